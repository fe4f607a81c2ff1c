package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

const lifecycleAPIKey = "lifecycle-test-key-0123456789abcdef"

// A year in a community member's life, end to end: the real paidup serve
// with its sandbox, whose test clock moves months in seconds, real SMTP
// to the local mailbox, and the operator's API and CLI. A supporter for
// life subscribes to Pro monthly; it renews twice; the card fails; the
// day 0, 3 and 6 emails arrive; the grace ends and they fall back to
// Supporter; the processor's retry with a new card succeeds and Pro is
// back. Then a chargeback blocks them; a renewal paid later does not lift
// the block; a person lifts it and access follows the grants.
func TestSubscriptionLifecycle(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		l := startLife(t, engine, "ana@example.com")
		cfgPath, dbURL := l.cfgPath, l.dbURL

		l.buy("supporter-lifetime", "4242 4242 4242 4242")
		l.wantAccess("supporter")
		l.buy("pro-monthly", "4242 4242 4242 4242")
		l.wantAccess("pro")
		l.wantMail("You're in: Supporter, lifetime", "You're in: Pro, monthly")
		sub := l.subscription()

		// Two renewals.
		for range 2 {
			l.advance(31 * 24 * time.Hour)
		}
		l.wantGrants("subscription", 3)
		l.wantAccess("pro")

		// The card fails from the next renewal on.
		l.useCard(sub, "pm_card_chargeCustomerFail")
		l.advanceTo(l.periodEnd(sub.ID).Add(time.Minute))
		l.wantMail("Your payment for Pro, monthly didn't go through")
		l.wantAccess("pro")
		for range 3 {
			l.advance(24 * time.Hour)
		}
		l.wantMail("A reminder: please update your card for Pro, monthly")
		for range 3 {
			l.advance(24 * time.Hour)
		}
		l.wantMail("Your Pro access ends on")
		l.wantAccess("pro")
		l.advance(25 * time.Hour) // day 7: the grace ends
		l.wantMail("Your Pro access has ended")
		l.wantAccess("supporter")

		// A new card; the processor's next retry succeeds, after the grace.
		l.useCard(sub, "pm_card_visa")
		for range 3 {
			l.advance(24 * time.Hour)
		}
		l.wantMail("Welcome back: Pro is yours again")
		l.wantAccess("pro")

		// A chargeback of the next renewal.
		l.useCard(sub, "pm_card_createDispute")
		l.advanceTo(l.periodEnd(sub.ID).Add(time.Minute))
		l.wantAccess("blocked")
		require.Eventually(t, func() bool {
			return countRows(t, dbURL, `SELECT count(*) FROM support_cases WHERE kind = 'dispute'`) == 1
		}, 20*time.Second, 50*time.Millisecond)
		l.wantMail("Your access is on hold while your bank looks into a payment (PU-")

		// A later renewal is paid: still blocked.
		l.useCard(sub, "pm_card_visa")
		paid := countRows(t, dbURL, `SELECT count(*) FROM grants WHERE source = 'subscription'`)
		l.advanceTo(l.periodEnd(sub.ID).Add(time.Minute))
		l.wantGrants("subscription", paid+1)
		l.wantAccess("blocked")

		// A person lifts the block: access follows the grants, the
		// renewal paid since the chargeback.
		var stdout, stderr strings.Builder
		require.NoError(t, run(t.Context(), []string{"block", "lift", "--config", cfgPath, "--database-url", dbURL,
			"--customer", l.email, "--actor", "sam", "--reason", "the bank reversed the chargeback"},
			func(string) string { return "" }, &stdout, &stderr), stderr.String())
		require.Contains(t, stdout.String(), "Lifted dispute block")
		require.Contains(t, stdout.String(), "has access: Pro.", "tiers by name")
		require.Contains(t, stdout.String(), "grant ", "the grants, each with what it gives")
		l.wantAccess("pro")
		l.wantMail("The hold is lifted: Pro is back (PU-")

		// Nothing happened twice.
		for _, subject := range []string{"didn't go through", "A reminder", "access ends on", "access has ended", "Welcome back",
			"Your access is on hold", "The hold is lifted"} {
			require.Equal(t, 1, l.mailCount(subject), subject)
		}
		stdout.Reset()
		require.NoError(t, run(t.Context(), []string{"check", "--config", cfgPath, "--database-url", dbURL},
			func(string) string { return "" }, &stdout, &stderr), stdout.String())
	})
}

type life struct {
	t              *testing.T
	in             *instance
	cfgPath, dbURL string
	email          string
	stripe         *stripego.Client
	seen           int // mail already checked
}

// startLife runs paidup serve with the example configuration, its
// sandbox and mailbox, for one customer.
func startLife(t *testing.T, engine sqldb.Engine, email string) *life {
	dir := t.TempDir()
	cfg := strings.Replace(string(exampleConfig(t)), "keys: []", "keys: ["+lifecycleAPIKey+"]", 1)
	cfgPath := filepath.Join(dir, "paidup.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	dbURL := sqldbtest.URL(t, engine)
	in := start(t, nil, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
	return &life{t: t, in: in, cfgPath: cfgPath, dbURL: dbURL, email: email, stripe: sandboxAPI(in.sandbox, "sk_test_lifecycle")}
}

// sandboxAPI is stripe-go pointed at a sandbox.
func sandboxAPI(url, key string) *stripego.Client {
	return stripego.NewClient(key, stripego.WithBackends(stripego.NewBackendsWithConfig(
		&stripego.BackendConfig{URL: stripego.String(url), LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}})))
}

// useCard attaches a test card to a subscription's customer and makes it
// the card the subscription is charged to.
func useCard(t *testing.T, api *stripego.Client, customerID, subID, card string) {
	t.Helper()
	pm, err := api.V1PaymentMethods.Attach(t.Context(), card, &stripego.PaymentMethodAttachParams{Customer: stripego.String(customerID)})
	require.NoError(t, err)
	_, err = api.V1Subscriptions.Update(t.Context(), subID, &stripego.SubscriptionUpdateParams{DefaultPaymentMethod: stripego.String(pm.ID)})
	require.NoError(t, err)
}

func (l *life) useCard(sub *stripego.Subscription, card string) {
	useCard(l.t, l.stripe, sub.Customer.ID, sub.ID, card)
}

// buy goes through the shop and pays on the sandbox's page.
func (l *life) buy(plan, card string) {
	t := l.t
	_, form := get(t, l.in.shop+"/buy/"+plan)
	ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(form)
	status, payPage, _ := postForm(t, l.in.shop+"/buy/"+plan, url.Values{"email": {l.email}, "reference": {ref}})
	require.Equal(t, http.StatusSeeOther, status)
	status, _, _ = postForm(t, payPage, url.Values{"card_number": {card}, "exp": {"12/34"}, "cvc": {"123"}})
	require.Equal(t, http.StatusSeeOther, status)
}

func (l *life) subscription() *stripego.Subscription {
	t := l.t
	var sub *stripego.Subscription
	for s, err := range l.stripe.V1Subscriptions.List(t.Context(), &stripego.SubscriptionListParams{}) {
		require.NoError(t, err)
		sub = s
	}
	require.NotNil(t, sub)
	return sub
}

func (l *life) periodEnd(id string) time.Time {
	sub, err := l.stripe.V1Subscriptions.Retrieve(l.t.Context(), id, nil)
	require.NoError(l.t, err)
	require.NotEmpty(l.t, sub.Items.Data)
	return time.Unix(sub.Items.Data[0].CurrentPeriodEnd, 0)
}

func (l *life) now() time.Time {
	tc, err := l.stripe.V1TestHelpersTestClocks.Retrieve(l.t.Context(), "clock_sandbox", nil)
	require.NoError(l.t, err)
	return time.Unix(tc.FrozenTime, 0)
}

// advance moves the sandbox's clock, and so paidup's, and waits for what
// follows to settle.
func (l *life) advance(d time.Duration) { l.advanceTo(l.now().Add(d)) }

func (l *life) advanceTo(to time.Time) {
	t := l.t
	_, err := l.stripe.V1TestHelpersTestClocks.Advance(t.Context(), "clock_sandbox",
		&stripego.TestHelpersTestClockAdvanceParams{FrozenTime: stripego.Int64(to.Unix())})
	require.NoError(t, err)
	l.settle()
}

// settle waits until every webhook is delivered and every job that is due
// has run.
func (l *life) settle() {
	t := l.t
	require.Eventually(t, func() bool {
		return !strings.Contains(sandboxGet(t, l.in.sandbox, "/_sandbox/deliveries?status=pending"), `"id"`) &&
			countRows(t, l.dbURL, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')
				AND kind NOT IN ('reconcile', 'deadline_sweep')`) == 0 &&
			countRows(t, l.dbURL, `SELECT count(*) FROM webhook_events WHERE processed_at IS NULL`) == 0
	}, 30*time.Second, 50*time.Millisecond)
}

func (l *life) wantAccess(want string) {
	t := l.t
	var got string
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, l.in.shop+"/api/v1/access?email="+url.QueryEscape(l.email), nil)
		req.Header.Set("Authorization", "Bearer "+lifecycleAPIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var a struct {
			Active, Blocked bool
			Tier            string
		}
		json.NewDecoder(resp.Body).Decode(&a)
		switch {
		case a.Blocked:
			got = "blocked"
		case !a.Active:
			got = "none"
		default:
			got = a.Tier
		}
		return got == want
	}, 20*time.Second, 50*time.Millisecond, "want access %s, have %s", want, got)
}

func (l *life) wantGrants(source string, n int) {
	require.Eventually(l.t, func() bool {
		return countRows(l.t, l.dbURL, `SELECT count(*) FROM grants WHERE source = $1`, source) == n
	}, 20*time.Second, 50*time.Millisecond, "want %d %s grants", n, source)
}

// wantMail waits for the next emails to the customer to have these
// subjects (each a prefix), in order.
func (l *life) wantMail(subjects ...string) {
	t := l.t
	var got []string
	require.Eventually(t, func() bool {
		got = l.subjects()
		if len(got) < l.seen+len(subjects) {
			return false
		}
		next := got[l.seen : l.seen+len(subjects)]
		return !slices.ContainsFunc(subjects, func(s string) bool {
			return !slices.ContainsFunc(next, func(g string) bool { return strings.HasPrefix(g, s) })
		})
	}, 20*time.Second, 50*time.Millisecond, "want next mail %q; have %q", subjects, got)
	l.seen += len(subjects)
}

// messages lists the emails to the customer, oldest first.
func (l *life) messages() []mailboxMessage {
	msgs := mailboxMessages(l.t, l.in.sandbox, l.email)
	slices.SortFunc(msgs, func(a, b mailboxMessage) int { return int(a.ID - b.ID) })
	return msgs
}

func (l *life) subjects() []string {
	var out []string
	for _, msg := range l.messages() {
		out = append(out, msg.Subject)
	}
	return out
}

// message is the text of the last email to the customer whose subject
// contains subject.
func (l *life) message(subject string) string {
	var text string
	found := false
	for _, msg := range l.messages() {
		if strings.Contains(msg.Subject, subject) {
			text, found = msg.Text, true
		}
	}
	require.True(l.t, found, "no email %q", subject)
	return text
}

func (l *life) mailCount(contains string) int {
	n := 0
	for _, s := range l.subjects() {
		if strings.Contains(s, contains) {
			n++
		}
	}
	return n
}

// A customer whose renewal failed buys a second subscription instead of
// fixing their card: paidup cancels the failing one at the processor and
// keeps one entitlement.
func TestDoubleBuyDuringGrace(t *testing.T) {
	l := startLife(t, sqldb.SQLite, "bo@example.com")
	dbURL := l.dbURL

	l.buy("pro-monthly", "4242 4242 4242 4242")
	l.wantAccess("pro")
	first := l.subscription()
	l.useCard(first, "pm_card_chargeCustomerFail")
	l.advanceTo(l.periodEnd(first.ID).Add(time.Minute))
	l.wantMail("You're in: Pro, monthly", "Your payment for Pro, monthly didn't go through")

	l.buy("pro-monthly", "4242 4242 4242 4242")
	// The new one's confirmation, and word that the failing one ended.
	l.wantMail("You're in: Pro, monthly", "Your Pro, monthly has ended")
	ended := l.message("has ended")
	require.Contains(t, ended, "You still have Pro", "the new subscription keeps the tier")
	require.NotContains(t, ended, "no other plan")
	require.Eventually(t, func() bool {
		sub, err := l.stripe.V1Subscriptions.Retrieve(t.Context(), first.ID, nil)
		return err == nil && sub.Status == stripego.SubscriptionStatusCanceled
	}, 20*time.Second, 50*time.Millisecond, "the failing subscription is cancelled at the processor")
	l.settle()
	l.wantAccess("pro")
	require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM grants WHERE source = 'grace' AND revoked_at IS NOT NULL`),
		"the failing subscription's grace ended: one entitlement")
	require.Equal(t, 0, countRows(t, dbURL, `SELECT count(*) FROM deadlines`), "no reminders left for the cancelled one")
	require.Equal(t, 0, countRows(t, dbURL, `SELECT count(*) FROM support_cases`))

	// Its reminders never come.
	for range 8 {
		l.advance(24 * time.Hour)
	}
	require.Equal(t, 0, l.mailCount("A reminder"))
	require.Equal(t, 0, l.mailCount("access has ended"))
	l.wantAccess("pro")
}
