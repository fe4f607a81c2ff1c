package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// Refunds end to end, the real paidup binary against a `paidup sandbox`
// process and Mailpit. A customer buys Pro with the card whose refunds
// fail (4000 0000 0000 5126). A charge.refunded that the processor never
// sent — a leaked old event or a test trigger, signed with the configured
// webhook secret — names their payment refunded in full: nothing changes.
// The operator refunds them for real: access ends. The processor then
// fails the refund: access comes back, on-call hears of it, the customer
// gets no email about it. Another payment's row is set refunded by hand,
// its grant revoked, while paidup is down: `paidup check` cannot see it,
// `paidup check --processor` reports it, and once paidup is up the
// reconciler puts it right; `paidup check --processor` is then clean.
func TestRefundsEndToEnd(t *testing.T) {
	mp := startMailpit(t)
	bin := buildPaidup(t)
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		c := newCrashSetup(t, bin, mp, engine)
		// paidup's clock follows the sandbox's, which the test moves.
		p := c.startPaidup(t, bin, mp, "", crashConfig{testClock: "clock_sandbox"})
		customer := "refund-" + c.id + "@example.com"
		payment, charge := buyWithCard(t, p, c, customer, "4000 0000 0000 5126")
		p.waitSettled(customer, c.oncall, c.sandboxURL, c.db)
		check := func(args ...string) (string, error) {
			cmd := exec.Command(bin, append([]string{"check", "--config", p.config, "--database-url", c.dbURL}, args...)...)
			cmd.Env = childEnv("")
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		requireClean := func() {
			t.Helper()
			if out, err := check("--processor"); err != nil || !strings.Contains(out, "processor: compared") {
				t.Fatalf("paidup check --processor: %v\n%s", err, out)
			}
		}
		requireClean()

		// A signed charge.refunded for a refund the processor does not have.
		forged := fmt.Sprintf(`{"id":"evt_forged_%s","object":"event","type":"charge.refunded","api_version":"2026-02-25.clover","created":%d,"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"data":{"object":{"id":%q,"object":"charge","amount":24900,"amount_captured":24900,"amount_refunded":24900,"captured":true,"currency":"usd","paid":true,"refunded":true,"status":"succeeded","payment_intent":%q}}}`,
			c.id, time.Now().Unix(), charge, payment)
		postSigned(t, c.shop+"/webhooks/stripe", crashWebhookKey, forged)
		waitFor(t, p, "the forged event processed", func() bool {
			return countRows(t, c.dbURL, `SELECT count(*) FROM webhook_events WHERE event_id = $1 AND processed_at IS NOT NULL`, "evt_forged_"+c.id) == 1
		})
		if a := p.access(customer); !a.Active || a.Tier != "pro" {
			t.Fatalf("a refund the processor does not have ended the access: %+v", a)
		}
		if n := countRows(t, c.dbURL, `SELECT count(*) FROM payments WHERE status = 'succeeded' AND amount_refunded = 0`); n != 1 {
			t.Fatalf("the payment is not as the processor has it: %d succeeded, unrefunded payments", n)
		}

		// A real refund ends the access.
		sandboxForm(t, c.sandboxURL, "/v1/refunds", url.Values{"payment_intent": {payment}})
		waitFor(t, p, "the refund to end the access", func() bool { a, ok := p.tryAccess(customer); return ok && !a.Active })
		requireClean()

		// The processor fails the refund (a minute on its clock): the
		// access comes back.
		var clock struct {
			FrozenTime int64 `json:"frozen_time"`
		}
		json.Unmarshal([]byte(sandboxCall(t, c.sandboxURL, http.MethodGet, "/v1/test_helpers/test_clocks/clock_sandbox", "")), &clock)
		sandboxForm(t, c.sandboxURL, "/v1/test_helpers/test_clocks/clock_sandbox/advance",
			url.Values{"frozen_time": {strconv.FormatInt(clock.FrozenTime+60, 10)}})
		waitFor(t, p, "the failed refund to give the access back", func() bool {
			a, ok := p.tryAccess(customer)
			return ok && a.Active && a.Tier == "pro"
		})
		waitFor(t, p, "on-call to hear of the failed refund", func() bool { return len(mp.messagesTo(t, c.oncall)) == 1 })
		if n := countRows(t, c.dbURL, `SELECT count(*) FROM support_cases WHERE kind = 'refund_failed'`); n != 1 {
			t.Fatalf("%d refund_failed cases, want 1", n)
		}
		if msgs := mp.messagesTo(t, customer); len(msgs) != 1 || !strings.HasPrefix(msgs[0], "You're in") {
			t.Fatalf("the customer's emails: %q, want the confirmation only", msgs)
		}
		requireClean()

		// Another customer's payment, set refunded by hand while paidup is down.
		other := "other-" + c.id + "@example.com"
		otherPayment, _ := buyWithCard(t, p, c, other, "4242 4242 4242 4242")
		waitFor(t, p, "the other confirmation", func() bool { return len(mp.messagesTo(t, other)) == 1 })
		p.proc.stop()
		for _, q := range []string{
			`UPDATE payments SET status = 'refunded', amount_refunded = amount WHERE payment_id = $1`,
			`UPDATE grants SET revoked_at = CURRENT_TIMESTAMP, revoke_reason = 'payment refunded' WHERE source_ref = 'stripe:' || $1`,
		} {
			if _, err := c.db.Write.Exec(q, otherPayment); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := check(); err != nil {
			t.Fatalf("paidup check, without the processor, sees nothing wrong: %v\n%s", err, out)
		}
		out, err := check("--processor")
		if err == nil || !regexp.MustCompile(`REFUND DISAGREEMENT: payment stripe:`+otherPayment+` .*paidup has \$249\.00 of \$249\.00 refunded \(refunded\); the processor has \$0\.00 refunded`).MatchString(out) {
			t.Fatalf("paidup check --processor does not report the disagreement: %v\n%s", err, out)
		}
		if strings.Count(out, "REFUND DISAGREEMENT") != 1 {
			t.Fatalf("paidup check --processor reports more than the one disagreement:\n%s", out)
		}

		p.start(false)
		waitFor(t, p, "the reconciler to give the access back", func() bool {
			a, ok := p.tryAccess(other)
			return ok && a.Active && a.Tier == "pro"
		})
		requireClean()
	})
}

// buyWithCard buys Pro, one year through the shop and pays on the
// sandbox's page with a test card; it returns the payment intent and its
// charge once paidup has granted access.
func buyWithCard(t *testing.T, p *paidupChild, c *crashSetup, email, card string) (payment, charge string) {
	t.Helper()
	_, form := p.request(http.MethodGet, "/buy/pro-annual", nil, http.StatusOK)
	ref := regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`).FindStringSubmatch(form)
	if ref == nil {
		t.Fatalf("no reference on the buy form:\n%s", form)
	}
	resp, _ := p.request(http.MethodPost, "/buy/pro-annual", url.Values{"email": {email}, "reference": {ref[1]}}, http.StatusSeeOther)
	paid, err := customerClient.PostForm(resp.Header.Get("Location"), url.Values{
		"card_number": {card}, "exp": {"12 / 34"}, "cvc": {"123"}, "name": {"Ada Lovelace"},
	})
	if err != nil {
		t.Fatal(err)
	}
	paid.Body.Close()
	if paid.StatusCode != http.StatusSeeOther {
		t.Fatalf("paying with %s: status %d", card, paid.StatusCode)
	}
	waitFor(t, p, "access for "+email, func() bool { a, ok := p.tryAccess(email); return ok && a.Active })
	err = c.db.Read.QueryRow(`SELECT p.payment_id FROM payments p JOIN customers cu ON cu.id = p.customer_id WHERE cu.email = $1`, email).Scan(&payment)
	if err != nil {
		t.Fatalf("no payment recorded for %s: %v", email, err)
	}
	var list struct {
		Data []struct {
			ID            string `json:"id"`
			PaymentIntent string `json:"payment_intent"`
		} `json:"data"`
	}
	json.Unmarshal([]byte(sandboxCall(t, c.sandboxURL, http.MethodGet, "/v1/charges?limit=100", "")), &list)
	var ids []string
	for _, ch := range list.Data {
		ids = append(ids, ch.ID)
		if ch.PaymentIntent == payment {
			return payment, ch.ID
		}
	}
	t.Fatalf("no charge of %s among %v", payment, ids)
	return "", ""
}

// waitFor waits up to 30 s for cond, failing with paidup's log if it does
// not come.
func waitFor(t *testing.T, p *paidupChild, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s\npaidup's log:\n%s", what, logTail(p.lastLog))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postSigned posts a webhook signed as Stripe signs them, with secret, and
// requires a 200.
func postSigned(t *testing.T, target, secret, payload string) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + payload))
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader([]byte(payload)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := quickClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the signed webhook was answered %d", resp.StatusCode)
	}
}

// sandboxForm makes a form-encoded API request of the sandbox, as
// stripe-go does, and requires a 200.
func sandboxForm(t *testing.T, sandboxURL, path string, form url.Values) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, sandboxURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+crashStripeKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := quickClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		t.Fatalf("sandbox POST %s: status %d: %s", path, resp.StatusCode, body.String())
	}
}

// `paidup check --processor` with the processor unreachable says so and
// fails, rather than passing a check it could not make.
func TestCheckProcessorUnreachable(t *testing.T) {
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "paidup.db")
	noenv := func(string) string { return "" }
	var stdout, stderr strings.Builder
	require.NoError(t, run(t.Context(), []string{"migrate", "--database-url", dbURL}, noenv, &stdout, &stderr))
	db, err := sqldb.Open(t.Context(), dbURL)
	require.NoError(t, err)
	for _, q := range []string{
		`INSERT INTO customers (id, email, created_at) VALUES ('cu_1', 'ada@example.com', CURRENT_TIMESTAMP)`,
		`INSERT INTO payments (processor, payment_id, customer_id, plan_id, amount, currency, amount_refunded, status, paid_at, created_at, updated_at)
			VALUES ('stripe', 'pi_1', 'cu_1', 'pro-annual', 24900, 'usd', 24900, 'refunded', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
	} {
		_, err := db.Write.Exec(q)
		require.NoError(t, err)
	}
	db.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + closed.Addr().String()
	closed.Close()
	cfg := strings.Replace(string(exampleConfig(t)), "kind: sandbox", "kind: stripe", 1)
	cfg = strings.Replace(cfg, `secret_key: ""`, `secret_key: sk_test_down`, 1)
	cfg = strings.Replace(cfg, "webhook_secrets: []", "webhook_secrets: [whsec_down]", 1)
	cfg = strings.Replace(cfg, `api_url: ""`, "api_url: "+down, 1)
	path := filepath.Join(dir, "paidup.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))

	smtpOnly := func(k string) string { return map[string]string{"PAIDUP_SMTP_URL": "smtp://127.0.0.1:1"}[k] }
	err = run(t.Context(), []string{"check", "--config", path, "--database-url", dbURL, "--processor"}, smtpOnly, &stdout, &stderr)
	require.ErrorContains(t, err, "reading the refunds of pi_1 from the processor")
	require.NotContains(t, stdout.String(), "OK")
}
