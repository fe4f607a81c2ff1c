package main

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
)

// refundPoint reports whether a failpoint is on the path that refunds a
// duplicate purchase, which TestDuplicateRefundCrashes covers.
func refundPoint(name string) bool { return strings.HasPrefix(name, "refund.") }

// TestDuplicateRefundCrashes is the crash matrix for refunding a
// duplicate purchase: a customer buys Pro for a year twice, and paidup,
// with the failpoint armed, is killed between the processor refunding
// the second payment and paidup recording it (or just after), then
// restarted on the same database. In the end the processor holds exactly
// one refund, the customer got exactly one confirmation and exactly one
// refund email, keeps the first year, and `paidup check` passes.
func TestDuplicateRefundCrashes(t *testing.T) {
	mp := startMailpit(t)
	bin := buildPaidup(t)
	points := slices.DeleteFunc(listFailpoints(t, bin), func(p string) bool { return !refundPoint(p) })
	if len(points) == 0 {
		t.Fatal("paidup lists no refund failpoints")
	}
	eachCrashCase(t, points, "refund.after_refund", func(t *testing.T, engine sqldb.Engine, point string) {
		runRefundCrash(t, bin, mp, engine, point)
	})
}

func runRefundCrash(t *testing.T, bin string, mp *mailpit, engine sqldb.Engine, point string) {
	c := newCrashSetup(t, bin, mp, engine)
	customer := "twice-" + c.id + "@example.com"
	api := sandboxAPI(c.sandboxURL, crashStripeKey)
	p := c.startPaidup(t, bin, mp, point, crashConfig{})
	count := func(query string, args ...any) int { return c.count(t, query, args...) }
	mails := func(subject string) int {
		n := 0
		for _, s := range mp.messagesTo(t, customer) {
			if strings.Contains(s, subject) {
				n++
			}
		}
		return n
	}
	// until waits for what a step leads to, restarting paidup if the
	// failpoint killed it.
	until := func(what string, done func() bool) { t.Helper(); waitRestarting(t, p, what, done) }
	// sees is the status page of the second purchase, which is never
	// "You're in".
	sees := func(path string) string {
		t.Helper()
		_, body := p.request(http.MethodGet, path, nil, http.StatusOK)
		if !strings.Contains(body, "<h1>We're confirming your payment</h1>") && !strings.Contains(body, "<h1>We're refunding this payment</h1>") &&
			!strings.Contains(body, "<h1>This payment was refunded</h1>") {
			t.Fatalf("the second purchase's status page says neither confirming nor refunding:\n%s", body)
		}
		return body
	}
	buy := func(status func(string) string) string {
		_, form := p.request(http.MethodGet, "/buy/pro-annual", nil, http.StatusOK)
		ref := regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`).FindStringSubmatch(form)
		if ref == nil {
			t.Fatalf("no reference on the buy form:\n%s", form)
		}
		resp, _ := p.request(http.MethodPost, "/buy/pro-annual", url.Values{"email": {customer}, "reference": {ref[1]}}, http.StatusSeeOther)
		back := payOnSandboxPage(t, resp.Header.Get("Location"))
		status(strings.TrimPrefix(back, c.shop))
		return ref[1]
	}

	buy(p.customerSees)
	until("access and the confirmation", func() bool {
		a, ok := p.tryAccess(customer)
		return ok && a.Tier == "pro" && mails("You're in") == 1
	})
	first := p.access(customer)
	second := buy(sees)
	until("the refund and its email", func() bool {
		return count(`SELECT count(*) FROM payments WHERE checkout_reference = $1 AND status = 'refunded'`, second) == 1 &&
			mails("Refunded: your second purchase") == 1
	})
	c.atRest(t, p)
	time.Sleep(500 * time.Millisecond)
	p.ensureUp()

	refunds := 0
	for _, err := range api.V1Refunds.List(t.Context(), &stripego.RefundListParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		refunds++
	}
	if refunds != 1 {
		t.Errorf("the processor has %d refunds, want 1", refunds)
	}
	if n := mails("Refunded: your second purchase"); n != 1 {
		t.Errorf("%d refund emails, want 1", n)
	}
	if n := mails("You're in"); n != 1 {
		t.Errorf("%d confirmations, want 1: the second purchase is no second \"You're in\"", n)
	}
	if n := len(mp.messagesTo(t, customer)); n != 2 {
		t.Errorf("%d emails to the customer, want 2: %q", n, mp.messagesTo(t, customer))
	}
	if a := p.access(customer); a.Tier != "pro" || len(a.Grants) != 1 || a.Grants[0].ID != first.Grants[0].ID {
		t.Errorf("after the refund the customer has %+v, want what they had: %+v", a, first)
	}
	sees("/checkout/" + second)
	for _, q := range []struct {
		what, query string
		want        int
	}{
		{"refund emails", `SELECT count(*) FROM emails WHERE kind = 'refund_issued' AND status = 'sent'`, 1},
		{"duplicate attempts", `SELECT count(*) FROM checkout_attempts WHERE status = 'duplicate'`, 1},
		{"support cases", `SELECT count(*) FROM support_cases`, 0},
	} {
		if n := count(q.query); n != q.want {
			t.Errorf("%d %s, want %d", n, q.what, q.want)
		}
	}
	out, err := runCheck(bin, p.config, c.dbURL)
	if err != nil || !strings.Contains(out, "OK") {
		t.Errorf("paidup check: %v\n%s", err, out)
	}
	if !p.crashed {
		t.Errorf("failpoint %s was never reached", point)
	}
}
