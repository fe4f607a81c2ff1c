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

// casePoint reports whether a failpoint is on the path of resolving a
// support case, which TestCaseEmailCrashes covers.
func casePoint(name string) bool { return strings.HasPrefix(name, "case.") }

// caseEmailPoint reports whether TestCaseEmailCrashes crashes paidup at a
// failpoint: the fulfilment that opens the case, the sending of its
// emails, and paidup case resolve.
func caseEmailPoint(name string) bool {
	return casePoint(name) || strings.HasPrefix(name, "fulfil.") || strings.HasPrefix(name, "email.")
}

// TestCaseEmailCrashes is the crash matrix for the emails of a support
// case a customer waits on: a customer who bought Pro for a year is
// blocked (paidup block add) and pays again, which opens a case and
// emails them that a person is looking at it; a person answers with
// paidup case resolve, which emails them the answer. paidup, with the
// failpoint armed, is killed at it while fulfilling the payment or
// sending the case's emails (armed again for the answer's), and restarted
// on the same database; paidup case resolve, killed at
// case.before_commit, is run again. In the end the mail server holds
// exactly one case_opened and one case_answered email (one per
// Message-ID, as Gmail keeps them), there is one case, resolved, and
// `paidup check` passes.
func TestCaseEmailCrashes(t *testing.T) {
	mp := startMailpit(t)
	bin := buildPaidup(t)
	points := slices.DeleteFunc(listFailpoints(t, bin), func(p string) bool { return !caseEmailPoint(p) })
	if !slices.ContainsFunc(points, casePoint) {
		t.Fatal("paidup lists no support case failpoint")
	}
	eachCrashCase(t, points, "email.after_send", func(t *testing.T, engine sqldb.Engine, point string) {
		runCaseEmailCrash(t, bin, mp, engine, point)
	})
}

const (
	caseOpenedSubject   = "A person is looking at your purchase"
	caseAnsweredSubject = "About your purchase"
)

func runCaseEmailCrash(t *testing.T, bin string, mp *mailpit, engine sqldb.Engine, point string) {
	c := newCrashSetup(t, bin, mp, engine)
	// No one on call: each armed run of paidup sends one email, the
	// customer's, so that its email failpoint fires on that email.
	c.oncall = ""
	customer := "waiting-" + c.id + "@example.com"
	count := func(query string, args ...any) int { return c.count(t, query, args...) }
	mails := func(addr, subject string) int {
		n := 0
		for _, s := range mp.messagesTo(t, addr) {
			if strings.HasPrefix(s, subject) {
				n++
			}
		}
		return n
	}
	var p *paidupChild
	// until waits for what a step leads to, restarting paidup if the
	// failpoint killed it.
	until := func(what string, done func() bool) { t.Helper(); waitRestarting(t, p, what, done) }
	atRest := func() { t.Helper(); c.atRest(t, p) }
	// restart stops paidup and starts it again with the failpoint armed,
	// or with none.
	restart := func(armed string) {
		t.Helper()
		if p != nil {
			p.proc.stop()
		}
		p = c.startPaidup(t, bin, mp, armed, crashConfig{})
	}
	buy := func() string {
		t.Helper()
		_, form := p.request(http.MethodGet, "/buy/pro-annual", nil, http.StatusOK)
		ref := regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`).FindStringSubmatch(form)
		if ref == nil {
			t.Fatalf("no reference on the buy form:\n%s", form)
		}
		resp, _ := p.request(http.MethodPost, "/buy/pro-annual", url.Values{"email": {customer}, "reference": {ref[1]}}, http.StatusSeeOther)
		back := payOnSandboxPage(t, resp.Header.Get("Location"))
		p.request(http.MethodGet, strings.TrimPrefix(back, c.shop), nil, http.StatusOK)
		return ref[1]
	}
	cli := func(failpoints string, args ...string) (string, bool) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--config", p.config, "--database-url", c.dbURL)...)
		cmd.Env = childEnv(failpoints)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && !exit.Exited() && failpoints != "" && strings.Contains(string(out), "failpoint "+failpoints+" reached") {
			return string(out), true
		}
		if err != nil {
			t.Fatalf("paidup %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), false
	}

	// The customer buys Pro for a year, then is blocked by a person.
	restart("")
	buy()
	until("access and the confirmation", func() bool {
		a, ok := p.tryAccess(customer)
		return ok && a.Tier == "pro" && mails(customer, "You're in") == 1
	})
	atRest()
	cli("", "block", "add", "--customer", customer, "--actor", "sam", "--reason", "asked us to close the account")

	// Blocked, they pay again: a case, and an email saying a person is
	// looking at it.
	serveArmed := ""
	if !casePoint(point) {
		serveArmed = point
	}
	restart(serveArmed)
	second := buy()
	until("the case and its email", func() bool {
		return count(`SELECT count(*) FROM support_cases WHERE reference = $1 AND kind = 'blocked_payer'`, second) == 1 &&
			mails(customer, caseOpenedSubject) >= 1
	})
	atRest()
	crashed := p.crashed
	var id string
	if err := c.db.Read.QueryRow(`SELECT id FROM support_cases WHERE reference = $1`, second).Scan(&id); err != nil {
		t.Fatal(err)
	}

	// A person refunds the payment at the processor, then answers. paidup
	// is armed again for the answer's email;
	// paidup case resolve, killed before it commits, is run again, and
	// once more finds the case resolved.
	var payment string
	if err := c.db.Read.QueryRow(`SELECT payment_id FROM payments WHERE checkout_reference = $1`, second).Scan(&payment); err != nil {
		t.Fatal(err)
	}
	api := sandboxAPI(c.sandboxURL, crashStripeKey)
	if _, err := api.V1Refunds.Create(t.Context(), &stripego.RefundCreateParams{PaymentIntent: stripego.String(payment)}); err != nil {
		t.Fatalf("refunding %s: %v", payment, err)
	}
	until("the refund", func() bool {
		return count(`SELECT count(*) FROM payments WHERE payment_id = $1 AND status = 'refunded'`, payment) == 1 &&
			count(`SELECT count(*) FROM emails WHERE kind = 'refund_issued' AND status = 'sent'`) == 1
	})
	atRest()
	if strings.HasPrefix(point, "email.") {
		restart(point)
	}
	resolve := func(failpoints string) (string, bool) {
		return cli(failpoints, "case", "resolve", "--case", id, "--actor", "sam", "--answer", "We refunded your second payment; Pro stays yours until next year.")
	}
	if casePoint(point) {
		out, killed := resolve(point)
		if !killed {
			t.Fatalf("paidup case resolve was not killed at %s:\n%s", point, out)
		}
		crashed = true
		if n := count(`SELECT count(*) FROM emails WHERE kind = 'case_answered'`); n != 0 {
			t.Fatalf("paidup case resolve, killed before it committed, left %d answers queued", n)
		}
	}
	if out, _ := resolve(""); !strings.Contains(out, "Resolved "+id) {
		t.Fatalf("paidup case resolve:\n%s", out)
	}
	cmd := exec.Command(bin, "case", "resolve", "--case", id, "--actor", "sam", "--answer", "again", "--config", p.config, "--database-url", c.dbURL)
	cmd.Env = childEnv("")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "already resolved") {
		t.Fatalf("paidup case resolve, run twice: %v\n%s", err, out)
	}
	until("the answer", func() bool { return mails(customer, caseAnsweredSubject) >= 1 })
	atRest()
	if strings.HasPrefix(point, "email.") {
		crashed = crashed && p.crashed
	}
	time.Sleep(500 * time.Millisecond)
	p.ensureUp()

	// Exactly once, everything.
	for _, subject := range []string{"You're in", caseOpenedSubject, caseAnsweredSubject} {
		if n := mails(customer, subject); n != 1 {
			t.Errorf("%d emails %q, want 1: %q", n, subject, mp.messagesTo(t, customer))
		}
	}
	if n := len(mp.messagesTo(t, customer)); n != 4 {
		t.Errorf("%d emails to the customer, want 4 (with the refund's): %q", n, mp.messagesTo(t, customer))
	}
	if point == "email.before_send" || point == "email.after_send" {
		// Each case email was the one killed, and sent again.
		for _, kind := range []string{"case_opened", "case_answered"} {
			if n := count(`SELECT attempts FROM emails WHERE kind = $1`, kind); n != 2 {
				t.Errorf("the %s email was attempted %d times, want 2: once killed, once sent", kind, n)
			}
		}
	}
	for _, q := range []struct {
		what, query string
		want        int
	}{
		{"support cases", `SELECT count(*) FROM support_cases`, 1},
		{"resolved support cases", `SELECT count(*) FROM support_cases WHERE status = 'resolved'`, 1},
		{"sent case_opened emails", `SELECT count(*) FROM emails WHERE kind = 'case_opened' AND status = 'sent'`, 1},
		{"sent case_answered emails", `SELECT count(*) FROM emails WHERE kind = 'case_answered' AND status = 'sent'`, 1},
		{"sent refund_issued emails", `SELECT count(*) FROM emails WHERE kind = 'refund_issued' AND status = 'sent'`, 1},
		{"grants", `SELECT count(*) FROM grants`, 1},
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
		t.Errorf("failpoint %s was never reached (or not on every path it is armed for)", point)
	}
}
