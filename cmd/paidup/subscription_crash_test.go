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

// subscriptionEmailPoint reports whether TestSubscriptionEmailCrashes
// crashes paidup at a failpoint: the subscription's sync and the sending
// of its emails.
func subscriptionEmailPoint(name string) bool {
	return strings.HasPrefix(name, "lifecycle.") || strings.HasPrefix(name, "email.")
}

// TestSubscriptionEmailCrashes is the crash matrix for the emails of a
// subscription that TestLifecycleCrashes does not send: with renewal
// receipts on, a monthly subscriber renews (a receipt), then the
// subscription is cancelled at once from the processor's side (the
// subscription ended email). paidup, with the failpoint armed for each of
// the two, is killed at it and restarted on the same database. In the end
// each email was sent exactly once, the renewal granted once, and
// `paidup check` passes.
func TestSubscriptionEmailCrashes(t *testing.T) {
	mp := startMailpit(t)
	bin := buildPaidup(t)
	points := slices.DeleteFunc(listFailpoints(t, bin), func(p string) bool { return !subscriptionEmailPoint(p) })
	eachCrashCase(t, points, "email.after_send", func(t *testing.T, engine sqldb.Engine, point string) {
		runSubscriptionEmailCrash(t, bin, mp, engine, point)
	})
}

const (
	receiptSubject = "Receipt: Pro, monthly"
	endedSubject   = "Your Pro, monthly has ended"
)

func runSubscriptionEmailCrash(t *testing.T, bin string, mp *mailpit, engine sqldb.Engine, point string) {
	c := newCrashSetup(t, bin, mp, engine)
	c.oncall = "" // each armed run sends one email, the customer's
	customer := "renewing-" + c.id + "@example.com"
	api := sandboxAPI(c.sandboxURL, crashStripeKey)
	count := func(query string, args ...any) int { return c.count(t, query, args...) }
	mails := func(subject string) int {
		n := 0
		for _, s := range mp.messagesTo(t, customer) {
			if strings.HasPrefix(s, subject) {
				n++
			}
		}
		return n
	}
	var p *paidupChild
	until := func(what string, done func() bool) { t.Helper(); waitRestarting(t, p, what, done) }
	atRest := func() { t.Helper(); c.atRest(t, p) }
	restart := func(armed string) {
		t.Helper()
		if p != nil {
			p.proc.stop()
		}
		p = c.startPaidup(t, bin, mp, armed, crashConfig{testClock: "clock_sandbox", extra: "lifecycle:\n  renewal_receipts: true\n"})
	}

	// Subscribe, unarmed.
	restart("")
	_, form := p.request(http.MethodGet, "/buy/pro-monthly", nil, http.StatusOK)
	ref := regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`).FindStringSubmatch(form)
	if ref == nil {
		t.Fatalf("no reference on the buy form:\n%s", form)
	}
	resp, _ := p.request(http.MethodPost, "/buy/pro-monthly", url.Values{"email": {customer}, "reference": {ref[1]}}, http.StatusSeeOther)
	payOnSandboxPage(t, resp.Header.Get("Location"))
	until("access and the confirmation", func() bool {
		a, ok := p.tryAccess(customer)
		return ok && a.Tier == "pro" && mails("You're in") == 1
	})
	atRest()
	var subID string
	for sub, err := range api.V1Subscriptions.List(t.Context(), &stripego.SubscriptionListParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		subID = sub.ID
	}

	// Armed: the renewal, and its receipt.
	restart(point)
	sub, err := api.V1Subscriptions.Retrieve(t.Context(), subID, nil)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Unix(sub.Items.Data[0].CurrentPeriodEnd, 0)
	if _, err := api.V1TestHelpersTestClocks.Advance(t.Context(), "clock_sandbox",
		&stripego.TestHelpersTestClockAdvanceParams{FrozenTime: stripego.Int64(end.Add(time.Minute).Unix())}); err != nil {
		t.Fatal(err)
	}
	until("the renewal and its receipt", func() bool {
		return count(`SELECT count(*) FROM grants WHERE source = 'subscription'`) == 2 && mails(receiptSubject) >= 1
	})
	atRest()
	crashed := p.crashed

	// Armed again: cancelled now, from the processor's side.
	restart(point)
	if _, err := api.V1Subscriptions.Cancel(t.Context(), subID, nil); err != nil {
		t.Fatalf("cancelling %s: %v", subID, err)
	}
	until("the ended email", func() bool { return mails(endedSubject) >= 1 })
	atRest()
	crashed = crashed && p.crashed
	time.Sleep(500 * time.Millisecond)
	p.ensureUp()

	// Exactly once, everything.
	for _, subject := range []string{"You're in", receiptSubject, endedSubject} {
		if n := mails(subject); n != 1 {
			t.Errorf("%d emails %q, want 1: %q", n, subject, mp.messagesTo(t, customer))
		}
	}
	if n := len(mp.messagesTo(t, customer)); n != 3 {
		t.Errorf("%d emails to the customer, want 3: %q", n, mp.messagesTo(t, customer))
	}
	if point == "email.before_send" || point == "email.after_send" {
		for _, kind := range []string{"renewal_receipt", "subscription_ended"} {
			if n := count(`SELECT attempts FROM emails WHERE kind = $1`, kind); n != 2 {
				t.Errorf("the %s email was attempted %d times, want 2: once killed, once sent", kind, n)
			}
		}
	}
	for _, q := range []struct {
		what, query string
		want        int
	}{
		{"subscription grants", `SELECT count(*) FROM grants WHERE source = 'subscription'`, 2},
		{"sent emails", `SELECT count(*) FROM emails WHERE status = 'sent'`, 3},
	} {
		if n := count(q.query); n != q.want {
			t.Errorf("%d %s, want %d", n, q.what, q.want)
		}
	}
	out, err := runCheck(bin, p.config, c.dbURL)
	if err != nil || !strings.Contains(out, "OK") {
		t.Errorf("paidup check: %v\n%s", err, out)
	}
	if !crashed {
		t.Errorf("failpoint %s was not reached on both paths it is armed for", point)
	}
}
