package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/operator"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/store"
)

// The demo operator, who signs in to the console.
const demoOperator = "support@example.com"

// demoConsole serves a demo shop for the support console: customers made
// through the shop, the processor and the reconciler in every state a
// support person meets — among them Maya, charged $249 with nothing to
// show for it, whose case waits — and an operator to sign in as. It
// serves until stopped.
func demoConsole(ctx context.Context, listen, worldListen string, keep bool, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the paidup binary to run: %w", err)
	}
	dir, err := os.MkdirTemp("", "paidup-demo-console-")
	if err != nil {
		return err
	}
	if keep {
		defer fmt.Fprintf(stdout, "\nEverything is kept in %s.\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	shop := "http://" + listen
	world, err := openWorld(ctx, dir, shop, worldListen, nil)
	if err != nil {
		return fmt.Errorf("the demo's processor and mailbox on %s: %w", worldListen, err)
	}
	defer world.close()
	d := &consoleDemo{ctx: ctx, exe: exe, dir: dir, shop: shop, world: world, dbURL: "sqlite:" + filepath.Join(dir, "paidup.db")}
	if err := d.writeConfig("1s"); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "paidup.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	d.log = logFile
	defer d.stop()

	say("Making a demo shop for the support console (about a minute): each customer buys")
	say("through the shop and pays on the processor's page, as a person would.")
	if err := d.start(""); err != nil {
		return err
	}
	if err := d.makeCustomers(say); err != nil {
		return err
	}
	if err := d.makeMaya(say); err != nil {
		return err
	}
	// Serving, the reconciler runs as often as in production.
	if err := d.writeConfig("5m"); err != nil {
		return err
	}
	if err := d.start(""); err != nil {
		return err
	}
	setup, err := d.addOperator()
	if err != nil {
		return err
	}
	say("")
	say("paidup is serving the demo shop at %s/", shop)
	say("")
	say("Sign in to the support console: %s/console/", shop)
	say("  Email:         %s", demoOperator)
	say("  Password:      %s", setup.Password)
	say("  Code:          one of these recovery codes (each works once): %s", strings.Join(setup.RecoveryCodes[:3], ", "))
	say("                 or a code from an authenticator app given the TOTP secret %s", setup.TOTPSecret)
	say("")
	say("The customers, each in a state support meets:")
	for _, c := range demoCustomers {
		say("  %-20s %s", c.email, c.story)
	}
	say("  %-20s %s", erinEmail, "wrote in through the help form, charged she thinks; paidup found no payment and answered her by email.")
	say("  %-20s %s", mayaEmail, mayaStory)
	say("  %-20s %s", omarEmail, omarStory)
	say("")
	say(outageStory)
	say("")
	say("Try: search for maya, open her case, press Recover and watch her access flip;")
	say("then reply from the template charged_no_access_repaired. Her mailbox shows")
	say("what she receives: %s/mailbox/ (the processor's own console: %s/).", world.processorURL, world.processorURL)
	say("Or, from the open cases, recover both unconfirmed cases with one press.")
	say("")
	say("Ready. Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
	case err := <-d.exited:
		return fmt.Errorf("paidup stopped: %v (its log: %s)", err, filepath.Join(dir, "paidup.log"))
	}
	return nil
}

// A demo customer: who, what they buy with which card, and what is true
// of them afterwards.
type demoCustomer struct {
	email, plan, card, story string
	// then is what happens after the purchase, at the processor.
	then func(d *consoleDemo, c demoCustomer) error
	// late: they buy after the month has passed, today.
	late bool
}

var demoCustomers = []demoCustomer{
	{email: "ada@example.com", plan: "pro-monthly", card: "4242 4242 4242 4242",
		story: "Pro, monthly: renewed a month later, all well."},
	{email: "ben@example.com", plan: "pro-monthly", card: "4242 4242 4242 4242",
		story: "Pro, monthly: the renewal failed (his new card declines); in his grace period, reminded by email.",
		then:  (*consoleDemo).failNextRenewal},
	{email: "carol@example.com", plan: "pro-annual", card: "4000 0000 0000 0259", late: true,
		story: "Pro, one year: a chargeback (a dispute case); blocked until a person lifts it."},
	{email: "dan@example.com", plan: "pro-annual", card: "4242 4242 4242 4242",
		story: "Pro, one year: refunded at the processor; access ended.",
		then:  (*consoleDemo).refundAtProcessor},
}

// erin writes in through the help form without having bought anything.
const erinEmail = "erin@example.com"

// outageStory is what is still wrong at the processor when the demo is
// ready.
const outageStory = "The processor's lists of events, checkouts and payments are still failing (the rest of its API works), so paidup's sweep, which reads them, cannot find the two payments by itself; asking about one checkout, as Recover does, works."

const (
	omarEmail = "omar@example.com"
	omarStory = "paid $249.00 for Pro, one year in the same outage and closed the page at once: a second unconfirmed case, so the inbox shows the two as one problem."
	mayaEmail = "maya@example.com"
	mayaStory = "charged $249.00 for Pro, one year last night: paidup crashed before writing it down, the webhooks were lost, and the processor's API was failing while the reconciler re-checked, so it opened a case. She has no access."
)

// consoleDemo drives the demo's paidup, a child process on dir's
// database, and its world.
type consoleDemo struct {
	ctx              context.Context
	exe, dir, shop   string
	dbURL, cfgPath   string
	world            *demoWorld
	log              io.Writer
	proc             *exec.Cmd
	exited           chan error
	lastSubscription string
}

// writeConfig writes the demo's configuration, its reconciler running
// every interval.
func (d *consoleDemo) writeConfig(interval string) error {
	_, port, _ := strings.Cut(strings.TrimPrefix(d.shop, "http://"), ":")
	d.cfgPath = filepath.Join(d.dir, "paidup.yaml")
	cfg := strings.NewReplacer("{{PORT}}", port, "{{SANDBOX}}", d.world.processorURL, "{{SECRET}}", demoSecret,
		"{{SMTP}}", d.world.smtpURL, "{{KEY}}", demoAPIKey, "{{INTERVAL}}", interval).Replace(demoConsoleConfig)
	return os.WriteFile(d.cfgPath, []byte(cfg), 0o600)
}

// demoConsoleConfig is the demo shop's configuration. Its reconciler
// re-checks a checkout three times in seconds (the first after five, so
// that Maya and Omar both pay before it asks), running every second while
// the demo makes its customers.
const demoConsoleConfig = `server:
  listen: 127.0.0.1:{{PORT}}
business:
  name: Example Community
  support_email: support@example.com
processor:
  kind: stripe
  stripe:
    secret_key: sk_test_demo
    webhook_secrets: [{{SECRET}}]
    api_url: {{SANDBOX}}
    test_clock: clock_sandbox
tiers:
  - {id: pro, name: Pro, rank: 20}
plans:
  - {id: pro-monthly, name: "Pro, monthly", tier: pro, price: price_pro_monthly, amount: "12.00", currency: usd, interval: month}
  - {id: pro-annual, name: "Pro, one year", tier: pro, price: price_pro_annual, amount: "249.00", currency: usd, interval: once, term: 1y}
smtp:
  url: {{SMTP}}
  from: Example Community <billing@example.com>
oncall:
  emails: [oncall@example.com]
api:
  keys: [{{KEY}}]
reconciler:
  interval: {{INTERVAL}}
  recheck: [5s, 1s, 1s]
`

// start starts paidup, with failpoints armed if given.
func (d *consoleDemo) start(failpoints string) error {
	cmd := exec.CommandContext(d.ctx, d.exe, "serve", "--config", d.cfgPath, "--database-url", d.dbURL)
	cmd.Env = append(os.Environ(), "PAIDUP_FAILPOINTS="+failpoints)
	cmd.Stdout, cmd.Stderr = io.Discard, d.log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting paidup: %w", err)
	}
	d.proc, d.exited = cmd, make(chan error, 1)
	go func() { d.exited <- cmd.Wait() }()
	return waitHealthy(d.ctx, d.shop)
}

// stop stops paidup as an operator would.
func (d *consoleDemo) stop() {
	if d.proc == nil {
		return
	}
	d.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.proc.Process.Kill()
		<-d.exited
	}
	d.proc = nil
}

// makeCustomers makes every customer but Maya, then moves the processor's
// clock a month on, so that subscriptions renew (or fail to), and has
// Erin write in.
func (d *consoleDemo) makeCustomers(say func(string, ...any)) error {
	if err := d.buyAll(false, say); err != nil {
		return err
	}
	if err := d.waitFor("dan@example.com's refund", func(st *store.Store) (bool, error) {
		active, err := hasAccess(d.ctx, st, "dan@example.com")
		return !active, err
	}); err != nil {
		return err
	}
	say("  A month passes at the processor: subscriptions renew.")
	now, err := d.clock()
	if err != nil {
		return err
	}
	if err := d.advance(now.Add(32 * 24 * time.Hour)); err != nil {
		return err
	}
	if err := d.waitFor("ben@example.com's failed renewal", func(st *store.Store) (bool, error) {
		c, err := st.CustomerByEmail(d.ctx, "ben@example.com")
		if err != nil {
			return false, err
		}
		subs, err := st.Subscriptions(d.ctx, c.ID)
		return len(subs) == 1 && subs[0].Status == "past_due", err
	}); err != nil {
		return err
	}
	if err := d.buyAll(true, say); err != nil {
		return err
	}
	if err := d.waitFor("a dispute case for carol@example.com", func(st *store.Store) (bool, error) {
		return hasCase(d.ctx, st, paidup.CaseDispute, "")
	}); err != nil {
		return err
	}
	resp, err := http.PostForm(d.shop+"/help", url.Values{"email": {erinEmail}, "amount": {"12.00"},
		"message": {"I think I was charged but I cannot get in. Please help."}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the help form answered %s", resp.Status)
	}
	say("  %s wrote in through the help form.", erinEmail)
	return d.waitFor("erin's help request", func(st *store.Store) (bool, error) {
		return hasCase(d.ctx, st, paidup.CaseHelpRequest, "")
	})
}

// makeMaya tells Maya's story: paidup crashes as she pays, the webhooks
// are lost, the processor is out of reach while the reconciler re-checks
// her checkout, and the reconciler gives up and opens a case. Then the
// night passes.
func (d *consoleDemo) makeMaya(say func(string, ...any)) error {
	d.stop()
	if err := d.world.sandbox.SetFaults(d.ctx, []sandbox.Fault{{Action: sandbox.FaultDrop}}); err != nil {
		return err
	}
	if err := d.start("fulfil.before_commit"); err != nil {
		return err
	}
	// Omar pays in the same minute and closes the page at once: his
	// browser never comes back to paidup.
	payURL, omarRef, err := startPlanPurchase(d.shop, "pro-annual", omarEmail)
	if err != nil {
		return err
	}
	if _, err := payWithCard(payURL, "4242 4242 4242 4242"); err != nil {
		return err
	}
	payURL, ref, err := startPlanPurchase(d.shop, "pro-annual", mayaEmail)
	if err != nil {
		return err
	}
	returnURL, err := payWithCard(payURL, "4242 4242 4242 4242")
	if err != nil {
		return err
	}
	http.Get(returnURL) // paidup dies writing her order
	select {
	case <-d.exited:
		d.proc = nil
	case <-time.After(15 * time.Second):
		return errors.New("paidup did not crash at the failpoint")
	}
	say("  %s paid $249.00 (%s); paidup crashed before writing it down.", mayaEmail, ref)
	d.world.failing.Store(true)
	if err := d.start(""); err != nil {
		return err
	}
	for _, r := range []string{ref, omarRef} {
		if err := d.waitFor("the reconciler to give up on "+r, func(st *store.Store) (bool, error) {
			return hasCase(d.ctx, st, paidup.CaseUnconfirmed, r)
		}); err != nil {
			return err
		}
	}
	say("  %s paid $249.00 too (%s), and closed the page.", omarEmail, omarRef)
	say("  The processor's API failed while the reconciler re-checked; it opened a case for each.")
	d.stop()
	// The outage is not over: the processor's lists that paidup's sweep
	// reads still fail, so only a person asking about these two
	// checkouts finds their payments.
	d.world.listsFailing.Store(true)
	d.world.failing.Store(false)
	if err := d.world.sandbox.SetFaults(d.ctx, nil); err != nil {
		return err
	}
	now, err := d.clock()
	if err != nil {
		return err
	}
	say("  The night passes.")
	return d.advance(now.Add(9 * time.Hour))
}

// buyAll has the customers who buy early, or late, buy.
func (d *consoleDemo) buyAll(late bool, say func(string, ...any)) error {
	for _, c := range demoCustomers {
		if c.late != late {
			continue
		}
		if err := d.buy(c.plan, c.email, c.card); err != nil {
			return fmt.Errorf("%s buying %s: %w", c.email, c.plan, err)
		}
		if c.card != "4000 0000 0000 0259" { // disputed at once
			if err := waitAccess(d.ctx, d.shop, c.email); err != nil {
				return fmt.Errorf("%s: %w", c.email, err)
			}
		}
		if c.then != nil {
			if err := c.then(d, c); err != nil {
				return fmt.Errorf("%s: %w", c.email, err)
			}
		}
		say("  %s bought %s.", c.email, c.plan)
	}
	return nil
}

// buy goes through the shop and pays on the processor's page, and comes
// back to paidup, as a customer's browser would.
func (d *consoleDemo) buy(plan, email, card string) error {
	payURL, _, err := startPlanPurchase(d.shop, plan, email)
	if err != nil {
		return err
	}
	returnURL, err := payWithCard(payURL, card)
	if err != nil {
		return err
	}
	resp, err := http.Get(returnURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// failNextRenewal gives the customer's newest subscription a card whose
// charges fail.
func (d *consoleDemo) failNextRenewal(c demoCustomer) error {
	var subs struct {
		Data []struct{ ID, Customer string }
	}
	if err := d.api("GET", "/v1/subscriptions", nil, &subs); err != nil {
		return err
	}
	if len(subs.Data) == 0 {
		return errors.New("the processor has no subscription")
	}
	sub := subs.Data[0] // the newest
	var pm struct{ ID string }
	if err := d.api("POST", "/v1/payment_methods/pm_card_chargeCustomerFail/attach", url.Values{"customer": {sub.Customer}}, &pm); err != nil {
		return err
	}
	return d.api("POST", "/v1/subscriptions/"+sub.ID, url.Values{"default_payment_method": {pm.ID}}, nil)
}

// refundAtProcessor refunds the newest payment in full at the processor,
// as the Dashboard would.
func (d *consoleDemo) refundAtProcessor(c demoCustomer) error {
	var pis struct{ Data []struct{ ID string } }
	if err := d.api("GET", "/v1/payment_intents", nil, &pis); err != nil {
		return err
	}
	if len(pis.Data) == 0 {
		return errors.New("the processor has no payment")
	}
	return d.api("POST", "/v1/refunds", url.Values{"payment_intent": {pis.Data[0].ID}}, nil)
}

// clock is the processor's time.
func (d *consoleDemo) clock() (time.Time, error) {
	var c struct {
		FrozenTime int64 `json:"frozen_time"`
	}
	if err := d.api("GET", "/v1/test_helpers/test_clocks/clock_sandbox", nil, &c); err != nil {
		return time.Time{}, err
	}
	return time.Unix(c.FrozenTime, 0), nil
}

// advance moves the processor's clock, and with it paidup's, to t.
func (d *consoleDemo) advance(t time.Time) error {
	if err := d.api("POST", "/v1/test_helpers/test_clocks/clock_sandbox/advance", url.Values{"frozen_time": {strconv.FormatInt(t.Unix(), 10)}}, nil); err != nil {
		return err
	}
	// paidup reads the test clock every second (processor.stripe.test_clock);
	// until it has, a checkout it starts would close before it opens.
	time.Sleep(2 * time.Second)
	return nil
}

// api calls the processor's API and reads its answer into out.
func (d *consoleDemo) api(method, path string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(d.ctx, method, d.world.processorURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer sk_test_demo")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, body)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// waitFor waits until cond holds of paidup's records.
func (d *consoleDemo) waitFor(what string, cond func(*store.Store) (bool, error)) error {
	db, st, err := openStore(d.ctx, d.dbURL, time.Now)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, err := cond(st)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited two minutes for %s (last: %v); paidup's log: %s", what, err, filepath.Join(d.dir, "paidup.log"))
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// hasCase reports whether an open case of kind exists, for reference if
// given.
func hasCase(ctx context.Context, st *store.Store, kind, reference string) (bool, error) {
	cases, err := st.OpenCases(ctx)
	return slices.ContainsFunc(cases, func(c paidup.SupportCase) bool {
		return c.Kind == kind && (reference == "" || c.Reference == reference)
	}), err
}

// hasAccess reports whether a customer holds a grant now.
func hasAccess(ctx context.Context, st *store.Store, email string) (bool, error) {
	c, err := st.CustomerByEmail(ctx, email)
	if err != nil {
		return false, err
	}
	grants, err := st.Grants(ctx, c.ID)
	if err != nil {
		return false, err
	}
	now := time.Now()
	return slices.ContainsFunc(grants, func(g paidup.Grant) bool { return g.ActiveAt(now) }), nil
}

// addOperator adds the demo's operator and returns how they sign in.
func (d *consoleDemo) addOperator() (operator.Setup, error) {
	db, st, err := openStore(d.ctx, d.dbURL, time.Now)
	if err != nil {
		return operator.Setup{}, err
	}
	defer db.Close()
	ops := &operator.Service{Store: st, Issuer: "Example Community", Now: time.Now}
	return ops.Add(d.ctx, demoOperator)
}
