package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/config"
)

func TestExampleLoadsAsDefault(t *testing.T) {
	c, err := config.Load("", config.Overrides{})
	require.NoError(t, err)
	require.Equal(t, config.KindSandbox, c.Processor.Kind)
	require.Equal(t, "127.0.0.1:8080", c.Server.Listen)
	require.Empty(t, c.Server.PublicURL, "derived from the address paidup binds")
	require.Equal(t, "127.0.0.1:8081", c.Sandbox.Listen)
	require.Equal(t, "sqlite:paidup.db", c.Database.URL.Reveal())
	p, ok := c.Policy.Plan("pro-annual")
	require.True(t, ok)
	require.Equal(t, paidup.Money{Amount: 24900, Currency: "usd"}, p.Amount)
	require.Equal(t, paidup.Term{N: 1, Unit: 'y'}, p.Term)
	require.Equal(t, "pro", p.Tier)
	require.Equal(t, 7*24*time.Hour, c.Policy.Lifecycle.Grace)
	require.Equal(t, []paidup.Reminder{{After: 0, Template: "payment_failed"}, {After: 72 * time.Hour, Template: "payment_reminder"},
		{After: 144 * time.Hour, Template: "payment_final_reminder"}}, c.Policy.Lifecycle.Reminders)
	require.Equal(t, paidup.DoubleBuyCancel, c.Policy.Lifecycle.DoubleBuy)
	require.Equal(t, paidup.DefaultChargebackEnds, c.Policy.Lifecycle.Chargeback.Ends, "the default chargeback policy")
}

// Every key the loader accepts appears in the shipped example, so the example
// documents the whole file.
func TestExampleDocumentsEveryKey(t *testing.T) {
	var keys []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for f := range t.Fields() {
			tag := f.Tag.Get("yaml")
			if tag == "" || tag == "-" {
				continue
			}
			keys = append(keys, tag)
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[config.Config]())
	require.NotEmpty(t, keys)
	for _, k := range keys {
		require.Regexp(t, regexp.MustCompile(`(?m)^[ #-]*`+regexp.QuoteMeta(k)+`:`), string(paidup.ExampleConfig), "key %q is not in paidup.example.yaml", k)
	}
}

func TestOverridesWin(t *testing.T) {
	c, err := config.Load("", config.Overrides{Listen: "127.0.0.1:9000", SandboxListen: "127.0.0.1:9001", DatabaseURL: "postgres://u:p@127.0.0.1/x"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9000", c.Server.Listen)
	require.Equal(t, "127.0.0.1:9001", c.Sandbox.Listen)
	require.Equal(t, "postgres://u:p@127.0.0.1/x", c.Database.URL.Reveal())
}

func TestSecretsComeFromEnvironmentAndPrintRedacted(t *testing.T) {
	t.Setenv("TEST_STRIPE_KEY", "sk_test_abcdefghijklmnop")
	t.Setenv("TEST_WHSEC", "whsec_0123456789")
	c, err := config.Parse("t.yaml", []byte(replacePlanBlock(`
processor:
  kind: stripe
  stripe:
    secret_key: ${TEST_STRIPE_KEY}
    webhook_secrets: ["${TEST_WHSEC}"]
smtp:
  url: smtp://127.0.0.1:1025
`)), config.Overrides{})
	require.NoError(t, err)
	require.Equal(t, "sk_test_abcdefghijklmnop", c.Processor.Stripe.SecretKey.Reveal())
	require.Equal(t, "whsec_0123456789", c.Processor.Stripe.WebhookSecrets[0].Reveal())
	require.Equal(t, "sk_test_…", c.Processor.Stripe.SecretKey.String())
	printed := strings.Join([]string{
		c.Processor.Stripe.SecretKey.String(),
		c.Processor.Stripe.WebhookSecrets[0].String(),
	}, " ")
	require.NotContains(t, printed, "abcdef")
	require.NotContains(t, printed, "0123456789")
}

// replacePlanBlock appends a minimal valid policy to a document.
func replacePlanBlock(doc string) string {
	return doc + `
tiers:
  - {id: member, rank: 1}
plans:
  - {id: monthly, name: Monthly, tier: member, price: price_m, amount: "5", currency: usd, interval: month}
`
}

// A bad file is refused with the file, the line and the reason of every
// problem, not only the first.
func TestBadConfigIsRefusedWithLineAndReason(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // each "LINE: fragment"
	}{
		{"syntax", "server: [\n", []string{"1: not valid YAML"}},
		{"empty", "", []string{"1: the file is empty"}},
		{"unknown key", "server:\n  listen: 127.0.0.1:1\n  lisen: x\n", []string{`3: unknown key "lisen"`}},
		{"wrong type", "tiers:\n  - id: a\n    rank: high\n", []string{`3: "high": want a whole number`}},
		{"list expected", "plans: {a: 1}\n", []string{"1: want a list here, found a mapping"}},
		{"env missing", "processor:\n  stripe:\n    secret_key: ${PAIDUP_TEST_SURELY_UNSET}\n", []string{"3: environment variable PAIDUP_TEST_SURELY_UNSET is not set"}},
		{"bad duration", "sandbox:\n  retry_schedule: [10s, soon]\n", []string{`2: "soon": want a duration`}},
		{"policy", `tiers:
  - id: Gold
    rank: 1
  - id: silver
    rank: 1
  - id: bronze
plans:
  - id: a
    name: A
    tier: platinum
    price: price_a
    amount: "1.234"
    currency: usd
    interval: weekly
  - id: a
    name: B
    tier: silver
    price: price_a
    amount: "5"
    currency: usd
    interval: month
    term: 1y
  - id: c
    name: C
    tier: silver
    price: price_c
    amount: "5"
    currency: dollars
    interval: once
    term: forever
`, []string{
			`2: tiers[0].id: "Gold"`,
			`5: tiers[1].rank: 1 is also the rank of "Gold"`,
			`6: tiers[2].rank is required`,
			`10: plans[0].tier: "platinum" is not a tier`,
			`12: plans[0].amount: invalid amount "1.234"`,
			`14: plans[0].interval: "weekly" is not one of once, month, year`,
			`15: plans[1].id: "a" is used twice`,
			`18: plans[1].price: "price_a" is used by two plans`,
			`22: plans[1].term: only one-time plans have a term`,
			`28: plans[2].currency: invalid currency "dollars"`,
			`30: plans[2].term: invalid term "forever"`,
		}},
		{"processor", `processor:
  kind: stripe
  stripe:
    secret_key: pk_test_123
    webhook_secrets: [nope]
    api_url: http://127.0.0.1:8081/v1
`, []string{
			"4: processor.stripe.secret_key: want a secret (sk_…) or restricted (rk_…) key",
			"5: processor.stripe.webhook_secrets[0]: want a signing secret starting with whsec_",
			`6: processor.stripe.api_url: "http://127.0.0.1:8081/v1" is not a base URL`,
			"1: smtp.url is required when processor.kind is stripe",
		}},
		{"stripe without secrets", "processor:\n  kind: stripe\n", []string{"1: processor.stripe.secret_key is required", "1: processor.stripe.webhook_secrets: at least one signing secret", "1: smtp.url is required when processor.kind is stripe"}},
		{"kind", "processor:\n  kind: paypal\n", []string{`2: processor.kind: "paypal" is not one of sandbox, stripe`}},
		{"sandbox", `server:
  listen: 127.0.0.1:8080
sandbox:
  listen: 127.0.0.1:8080
  faults:
    - action: explode
    - action: delay
    - action: reorder
      count: 1
`, []string{
			"4: sandbox.listen: the sandbox needs an address of its own",
			`6: sandbox.faults[0].action: "explode" is not one of drop, duplicate, delay, reorder`,
			"7: sandbox.faults[1].delay: a delay rule needs a positive delay",
			"9: sandbox.faults[2].count: a reorder rule needs a count of at least 2",
		}},
		{"addresses", `server:
  listen: localhost
  public_url: ftp://x
database:
  url: mysql://x
smtp:
  url: http://mail
  from: not an address
business:
  support_email: nobody
`, []string{
			`2: server.listen: "localhost" is not HOST:PORT`,
			`3: server.public_url: "ftp://x" is not an http(s) URL`,
			"5: database.url: want sqlite:PATH or postgres://",
			"7: smtp.url: want smtp://HOST:PORT",
			`8: smtp.from: "not an address" is not an email address`,
			`10: business.support_email: "nobody" is not an email address`,
		}},
		{"operations", `oncall:
  emails: [ops@example.com, not-an-address]
api:
  keys: [short]
reconciler:
  interval: 1ms
  recheck: []
accounts:
  sign_in_link_ttl: 1s
`, []string{
			`2: oncall.emails[1]: "not-an-address" is not an email address`,
			"4: api.keys[0]: too short",
			"6: reconciler.interval: want at least 100ms",
			"7: reconciler.recheck: at least one delay is required",
			"8: accounts: sign_in_link_ttl and session_ttl must be at least 1m",
		}},
		{"customer words", `processor:
  statement_descriptor_suffix: "Example {reference} x"
smtp:
  from_by_kind:
    alert: not an address
support:
  reply_within: "one\nbusiness day"
`, []string{
			`2: processor.statement_descriptor_suffix: "Example {reference} x" is 22 characters with a reference in it`,
			`5: smtp.from_by_kind.alert: "not an address" is not an email address`,
			"7: support.reply_within: want a few words on one line",
		}},
		{"inbound mail", `support:
  inbound_domain: "reply@example.com"
  inbound_smtp_listen: "port 25"
  inbound_webhook_key: short
`, []string{
			`2: support.inbound_domain: "reply@example.com" is not a domain name`,
			`3: support.inbound_smtp_listen: "port 25" is not HOST:PORT`,
			"4: support.inbound_webhook_key: want the provider's signing key",
		}},
		{"inbound domain alone", "support:\n  inbound_domain: reply.example.com\n", []string{
			"2: support.inbound_domain: set support.inbound_smtp_listen or support.inbound_webhook_key too"}},
		{"inbound without a domain", "support:\n  inbound_smtp_listen: 127.0.0.1:2525\n", []string{
			"1: support.inbound_domain is required with support.inbound_smtp_listen"}},
		{"reply limits", "limits:\n  reply: {per_minute: -1, burst: 1}\n  reply_link: {per_minute: 1, burst: -1}\n", []string{
			"2: limits.reply.per_minute: want at least 1", "3: limits.reply_link.burst: want at least 1"}},
		{"console idle", "console:\n  session_idle: 10s\n", []string{"2: console.session_idle: 10s is less than 1m"}},
		{"console lifetime", "console:\n  session_idle: 2h\n  session_lifetime: 1h\n", []string{"3: console.session_lifetime: 1h0m0s is not from console.session_idle (2h0m0s) to 720h"}},
		{"no policy", "server:\n  listen: 127.0.0.1:1\n", []string{"1: tiers: at least one tier is required", "1: plans: at least one plan is required"}},
		{"lifecycle", `tiers:
  - {id: member, rank: 1}
plans:
  - {id: once, name: Once, tier: member, price: price_o, amount: "5", currency: usd, interval: once, grace: 3d}
  - {id: monthly, name: Monthly, tier: member, price: price_m, amount: "5", currency: usd, interval: month, grace: 3d}
lifecycle:
  grace: 7d
  reminders:
    - {after: 3d, template: payment_reminder}
    - {after: 1d, template: payment_failed}
    - {after: 6d, template: shouting}
  double_buy: ignore
  templates: /nonexistent/templates
  duplicate_purchase: ignore
`, []string{
			"4: plans[0].grace: only subscriptions (month or year) have a grace period",
			"10: lifecycle.reminders[1].after: reminders must be in order",
			`11: lifecycle.reminders[2].template: "shouting" is not one of payment_failed, payment_reminder, payment_final_reminder`,
			`12: lifecycle.double_buy: "ignore" is not one of cancel, flag`,
			`13: lifecycle.templates: "/nonexistent/templates" is not a directory`,
			`14: lifecycle.duplicate_purchase: "ignore" is not one of refund, case`,
		}},
		{"extends", `tiers:
  - {id: member, rank: 1}
plans:
  - {id: year, name: Year, tier: member, price: price_y, amount: "5", currency: usd, interval: once, term: 1y, extends: true}
  - {id: forever, name: Forever, tier: member, price: price_f, amount: "5", currency: usd, interval: once, extends: true}
  - {id: monthly, name: Monthly, tier: member, price: price_m, amount: "5", currency: usd, interval: month, extends: true}
`, []string{
			"5: plans[1].extends: only one-time plans with a term extend access",
			"6: plans[2].extends: only one-time plans with a term extend access",
		}},
		{"chargeback policy", `tiers:
  - {id: member, rank: 1}
plans:
  - {id: once, name: Once, tier: member, price: price_o, amount: "5", currency: usd, interval: once}
lifecycle:
  chargeback:
    ends: [recurring, everything]
`, []string{
			`7: lifecycle.chargeback.ends[1]: "everything" is not one of disputed, recurring, one_time, manual`,
			"7: lifecycle.chargeback.ends: must include disputed: the grant the disputed payment bought always ends, as its money was taken back",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.doc
			if !strings.Contains(doc, "tiers:") && !strings.Contains(doc, "plans:") && tt.name != "no policy" && tt.name != "syntax" && doc != "" {
				doc = replacePlanBlock(doc)
			}
			c, err := config.Parse("paidup.yaml", []byte(doc), config.Overrides{})
			require.Error(t, err)
			require.Nil(t, c)
			msg := err.Error()
			for _, w := range tt.want {
				require.Contains(t, msg, "paidup.yaml:"+w, "in:\n%s", msg)
			}
			require.Equal(t, len(tt.want), len(strings.Split(msg, "\n")), "every problem once, and nothing else:\n%s", msg)
		})
	}
}

func TestLoadFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paidup.yaml")
	require.NoError(t, os.WriteFile(path, []byte(replacePlanBlock("business:\n  name: Acme\n")), 0o600))
	c, err := config.Load(path, config.Overrides{})
	require.NoError(t, err)
	require.Equal(t, "Acme", c.Business.Name)
	require.Equal(t, path, c.Source)

	_, err = config.Load(filepath.Join(t.TempDir(), "missing.yaml"), config.Overrides{})
	require.ErrorContains(t, err, "reading configuration")
}

func TestParseMoneyAndTerm(t *testing.T) {
	for in, want := range map[string]int64{"249": 24900, "249.00": 24900, "9.5": 950, "0.01": 1} {
		m, err := paidup.ParseMoney(in, "USD")
		require.NoError(t, err, in)
		require.Equal(t, want, m.Amount, in)
	}
	m, err := paidup.ParseMoney("500", "jpy")
	require.NoError(t, err)
	require.Equal(t, int64(500), m.Amount)
	require.Equal(t, "500 JPY", m.String())
	for _, bad := range []string{"", "1.", ".5", "1.234", "-1", "1e3", "1,00", "12345678901234567890"} {
		_, err := paidup.ParseMoney(bad, "usd")
		require.Error(t, err, bad)
	}
	_, err = paidup.ParseMoney("1.5", "jpy")
	require.Error(t, err)
	require.Equal(t, "$249.00", paidup.Money{Amount: 24900, Currency: "usd"}.String())
	require.Equal(t, "$0.05", paidup.Money{Amount: 5, Currency: "usd"}.String())
}

// A plan extends only when it says so, and a duplicate purchase is
// refunded unless the policy says to open a case.
func TestExtendsAndDuplicatePurchase(t *testing.T) {
	doc := `tiers:
  - {id: member, rank: 1}
plans:
  - {id: year, name: Year, tier: member, price: price_y, amount: "5", currency: usd, interval: once, term: 1y, extends: true}
  - {id: month, name: Month, tier: member, price: price_m, amount: "5", currency: usd, interval: once, term: 1m}
`
	c, err := config.Parse("paidup.yaml", []byte(doc), config.Overrides{})
	require.NoError(t, err)
	require.True(t, c.Policy.Plans[0].Extends)
	require.False(t, c.Policy.Plans[1].Extends)
	require.Equal(t, paidup.DuplicateRefund, c.Policy.Lifecycle.DuplicatePurchase)

	c, err = config.Parse("paidup.yaml", []byte(doc+"lifecycle:\n  duplicate_purchase: case\n"), config.Overrides{})
	require.NoError(t, err)
	require.Equal(t, paidup.DuplicateCase, c.Policy.Lifecycle.DuplicatePurchase)
}

// A reminder may name a template of the override directory; one that is
// not there is refused with its line.
func TestReminderTemplateFromOverrideDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "payment_nudge.txt"), []byte("x"), 0o600))
	doc := replacePlanBlock("lifecycle:\n  reminders:\n    - {after: 0d, template: payment_failed}\n    - {after: 2d, template: payment_nudge}\n  templates: " + dir + "\n")
	c, err := config.Parse("paidup.yaml", []byte(doc), config.Overrides{})
	require.NoError(t, err)
	require.Equal(t, "payment_nudge", c.Policy.Lifecycle.Reminders[1].Template)

	_, err = config.Parse("paidup.yaml", []byte(strings.Replace(doc, "payment_nudge", "payment_shove", 1)), config.Overrides{})
	require.ErrorContains(t, err, `paidup.yaml:4: lifecycle.reminders[1].template: "payment_shove" is not one of payment_failed, payment_reminder, payment_final_reminder, nor a template in lifecycle.templates (there is no `+filepath.Join(dir, "payment_shove.txt")+")")
	_, err = config.Parse("paidup.yaml", []byte(strings.Replace(doc, "payment_nudge", "../payment_nudge", 1)), config.Overrides{})
	require.ErrorContains(t, err, `"../payment_nudge" is not one of`)
}

// The statement descriptor suffix is the reference unless set; "" is none.
func TestStatementSuffix(t *testing.T) {
	c, err := config.Load("", config.Overrides{})
	require.NoError(t, err)
	require.Equal(t, "{reference}", c.Processor.StatementSuffix())
	require.Equal(t, "one business day", c.Support.ReplyWithin)
	for doc, want := range map[string]string{"": "{reference}", `statement_descriptor_suffix: ""`: "", `statement_descriptor_suffix: "EX {reference}"`: "EX {reference}"} {
		c, err := config.Parse("paidup.yaml", []byte(replacePlanBlock("processor:\n  kind: sandbox\n  "+doc+"\n")), config.Overrides{})
		require.NoError(t, err, doc)
		require.Equal(t, want, c.Processor.StatementSuffix(), doc)
	}
	for _, bad := range []string{`"{ref}"`, `"0000"`, `"A*B"`} {
		_, err := config.Parse("paidup.yaml", []byte(replacePlanBlock("processor:\n  statement_descriptor_suffix: "+bad+"\n")), config.Overrides{})
		require.ErrorContains(t, err, "processor.statement_descriptor_suffix", bad)
	}
}
