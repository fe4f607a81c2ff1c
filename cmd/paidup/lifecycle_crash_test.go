package main

import (
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
)

// TestLifecycleCrashes is the crash matrix for the subscription lifecycle:
// for each of its failpoints, on both engines, a subscriber's months —
// a renewal, a failed card with its three reminders, the grace's end, a
// late payment, a chargeback, the block lifted from the command line —
// run against the real binary, a separate
// `paidup sandbox` process whose test clock paidup follows, and Mailpit.
// The failpoint kills paidup the first time it is reached; paidup is
// restarted on the same database and the story carries on. In the end
// every email was sent exactly once (the hold and hold-lifted emails
// too), every paid renewal granted exactly once, on-call was alerted
// once, and `paidup check` passes.
func TestLifecycleCrashes(t *testing.T) {
	mp := startMailpit(t)
	bin := buildPaidup(t)
	points := slices.DeleteFunc(listFailpoints(t, bin), func(p string) bool { return !lifecyclePoint(p) })
	if len(points) == 0 {
		t.Fatal("paidup lists no lifecycle failpoints")
	}
	eachCrashCase(t, points, "deadline.before_commit", func(t *testing.T, engine sqldb.Engine, point string) {
		runLifecycleCrash(t, bin, mp, engine, point)
	})
}

func runLifecycleCrash(t *testing.T, bin string, mp *mailpit, engine sqldb.Engine, point string) {
	c := newCrashSetup(t, bin, mp, engine)
	db, sandboxURL, oncall := c.db, c.sandboxURL, c.oncall
	customer := "member-" + c.id + "@example.com"
	api := sandboxAPI(sandboxURL, crashStripeKey)
	p := c.startPaidup(t, bin, mp, point, crashConfig{testClock: "clock_sandbox"})
	cfgPath, dbURL := p.config, c.dbURL

	count := func(query string, args ...any) int { return c.count(t, query, args...) }
	mails := func(addr, subject string) int {
		n := 0
		for _, s := range mp.messagesTo(t, addr) {
			if strings.Contains(s, subject) {
				n++
			}
		}
		return n
	}
	// until waits for what a step leads to, restarting paidup if the
	// failpoint killed it.
	until := func(what string, done func() bool) { t.Helper(); waitRestarting(t, p, what, done) }
	now := func() time.Time {
		tc, err := api.V1TestHelpersTestClocks.Retrieve(t.Context(), "clock_sandbox", nil)
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(tc.FrozenTime, 0)
	}
	advanceTo := func(to time.Time) {
		t.Helper()
		if _, err := api.V1TestHelpersTestClocks.Advance(t.Context(), "clock_sandbox",
			&stripego.TestHelpersTestClockAdvanceParams{FrozenTime: stripego.Int64(to.Unix())}); err != nil {
			t.Fatal(err)
		}
	}
	days := func(n int) {
		t.Helper()
		for range n {
			advanceTo(now().Add(24 * time.Hour))
			time.Sleep(300 * time.Millisecond) // let paidup see each day
		}
	}
	var subID, customerID string
	periodEnd := func() time.Time {
		sub, err := api.V1Subscriptions.Retrieve(t.Context(), subID, nil)
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(sub.Items.Data[0].CurrentPeriodEnd, 0)
	}
	card := func(token string) { useCard(t, api, customerID, subID, token) }

	// Subscribe.
	_, form := p.request(http.MethodGet, "/buy/pro-monthly", nil, http.StatusOK)
	ref := regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`).FindStringSubmatch(form)
	if ref == nil {
		t.Fatalf("no reference on the buy form:\n%s", form)
	}
	resp, _ := p.request(http.MethodPost, "/buy/pro-monthly", url.Values{"email": {customer}, "reference": {ref[1]}}, http.StatusSeeOther)
	payOnSandboxPage(t, resp.Header.Get("Location"))
	until("access and the confirmation", func() bool {
		a, ok := p.tryAccess(customer)
		return ok && a.Tier == "pro" && mails(customer, "You're in") == 1
	})
	for sub, err := range api.V1Subscriptions.List(t.Context(), &stripego.SubscriptionListParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		subID, customerID = sub.ID, sub.Customer.ID
	}

	// A renewal.
	advanceTo(periodEnd().Add(time.Minute))
	until("the renewal's grant", func() bool { return count(`SELECT count(*) FROM grants WHERE source = 'subscription'`) == 2 })

	// The card fails: day 0, 3 and 6, then the grace ends.
	card("pm_card_chargeCustomerFail")
	advanceTo(periodEnd().Add(time.Minute))
	until("the payment failed email", func() bool { return mails(customer, "didn't go through") == 1 })
	days(3)
	until("the reminder", func() bool { return mails(customer, "A reminder") == 1 })
	days(3)
	until("the final reminder", func() bool { return mails(customer, "access ends on") == 1 })
	advanceTo(now().Add(25 * time.Hour))
	until("the grace's end", func() bool {
		a, ok := p.tryAccess(customer)
		return ok && !a.Active && mails(customer, "access has ended") == 1
	})

	// A new card; the processor's retry succeeds after the grace.
	card("pm_card_visa")
	days(3)
	until("welcome back", func() bool {
		a, ok := p.tryAccess(customer)
		return ok && a.Tier == "pro" && mails(customer, "Welcome back") == 1
	})

	// The customer cancels on paidup's account page, then resumes.
	cancelOnAccountPage(t, p, db, customer, subID)
	until("the cancellation email", func() bool { return mails(customer, "is cancelled") == 1 })
	resumeOnAccountPage(t, p, db, customer, subID)
	until("the resumed email", func() bool { return mails(customer, "renews again") == 1 })

	// A chargeback of the next renewal.
	card("pm_card_createDispute")
	advanceTo(periodEnd().Add(time.Minute))
	until("the block and the on-call alert", func() bool {
		a, ok := p.tryAccess(customer)
		return ok && a.Blocked && mails(oncall, "Chargeback") == 1
	})
	until("the hold email", func() bool { return mails(customer, "Your access is on hold") == 1 })

	// A person lifts the block from the command line. Killed by its
	// failpoint before it commits, the person runs it again; run once
	// more, the same request is answered as done and emails nothing.
	liftCrashed := false
	lift := func(failpoints string) string {
		t.Helper()
		cmd := exec.Command(bin, "block", "lift", "--config", cfgPath, "--database-url", dbURL, "--customer", customer,
			"--actor", "sam", "--reason", "the bank reversed the chargeback")
		cmd.Env = childEnv(failpoints)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && !exit.Exited() && failpoints != "" {
			liftCrashed = true
			return "killed"
		}
		if err != nil {
			t.Fatalf("paidup block lift: %v\n%s", err, out)
		}
		return string(out)
	}
	armed := ""
	if point == "block.before_commit" {
		armed = point
	}
	if out := lift(armed); out == "killed" {
		if out = lift(""); !strings.Contains(out, "Lifted dispute block") {
			t.Fatalf("paidup block lift, run again after its crash:\n%s", out)
		}
	} else if !strings.Contains(out, "Lifted dispute block") {
		t.Fatalf("paidup block lift:\n%s", out)
	}
	if out := lift(""); !strings.Contains(out, "Already done") || !strings.Contains(out, "Nothing changed now") {
		t.Fatalf("paidup block lift, run twice:\n%s", out)
	}
	until("the hold lifted email", func() bool { return mails(customer, "hold on your account is lifted") == 1 })

	// At rest: every delivery made, every job done.
	c.atRest(t, p)
	time.Sleep(500 * time.Millisecond)
	p.ensureUp()

	// Exactly once, everything.
	for _, subject := range []string{"You're in", "didn't go through", "A reminder", "access ends on", "access has ended", "Welcome back",
		"is cancelled", "renews again", "Your access is on hold", "hold on your account is lifted"} {
		if n := mails(customer, subject); n != 1 {
			t.Errorf("%d emails %q, want 1", n, subject)
		}
	}
	if n := len(mp.messagesTo(t, customer)); n != 10 {
		t.Errorf("%d emails to the customer, want 10: %q", n, mp.messagesTo(t, customer))
	}
	if n := mails(oncall, "Chargeback"); n != 1 || len(mp.messagesTo(t, oncall)) != 1 {
		t.Errorf("on-call got %q, want one chargeback alert", mp.messagesTo(t, oncall))
	}
	paid := 0
	for in, err := range api.V1Invoices.List(t.Context(), &stripego.InvoiceListParams{Subscription: stripego.String(subID)}) {
		if err != nil {
			t.Fatal(err)
		}
		if in.Status == stripego.InvoiceStatusPaid {
			paid++
		}
	}
	if n := count(`SELECT count(*) FROM grants WHERE revoked_at IS NULL AND (ends_at IS NULL OR ends_at > $1)`, now().UTC()); n != 0 {
		t.Errorf("%d grants still running after the chargeback", n)
	}
	for _, c := range []struct {
		what, query string
		want        int
	}{
		{"subscription grants (one per paid invoice)", `SELECT count(*) FROM grants WHERE source = 'subscription'`, paid},
		{"grace grants", `SELECT count(*) FROM grants WHERE source = 'grace'`, 1},
		{"dispute blocks", `SELECT count(*) FROM blocks WHERE source = 'dispute'`, 1},
		{"support cases", `SELECT count(*) FROM support_cases`, 1},
		{"deadlines left", `SELECT count(*) FROM deadlines`, 0},
	} {
		if n := count(c.query); n != c.want {
			t.Errorf("%d %s, want %d", n, c.what, c.want)
		}
	}
	out, err := runCheck(bin, cfgPath, dbURL)
	if err != nil || !strings.Contains(out, "OK") {
		t.Errorf("paidup check: %v\n%s", err, out)
	}
	if liftCrashed {
		t.Logf("failpoint %s killed paidup block lift; run again, it lifted the block; everything happened exactly once", point)
	} else if p.crashed {
		t.Logf("failpoint %s fired; paidup restarted %d time(s); everything happened exactly once", point, p.runs-1)
	} else {
		t.Errorf("failpoint %s was never reached", point)
	}
}

// runCheck runs `paidup check` on the database.
func runCheck(bin, cfgPath, dbURL string) (string, error) {
	cmd := exec.Command(bin, "check", "--config", cfgPath, "--database-url", dbURL)
	cmd.Env = childEnv("")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
