package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
)

const demoAPIKey = "demo-api-key-not-secret-0123456789"

// demo replays the $249 story on a throwaway database: a customer pays, the
// processor charges the card, paidup crashes before writing the order, and
// the webhooks are lost too; paidup restarts while the processor is out of
// reach for a moment, and her status page says it is confirming; then the
// reconciler finds the payment and grants access, her page says she is in,
// and one confirmation email arrives. At each step it says what she sees,
// read from the page paidup serves, and what a hand-rolled integration
// would have shown; then it prints her timeline.
func demo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep", false, "keep the throwaway directory (databases, configuration, logs) afterwards")
	console := fs.Bool("console", false, "instead, serve a demo shop for the support console: customers in every state, a case waiting for you, and an operator to sign in as")
	listen := fs.String("listen", "127.0.0.1:8080", "with --console: `address` of the demo's paidup")
	worldListen := fs.String("sandbox-listen", "127.0.0.1:8081", "with --console: `address` of the demo's processor and mailbox")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *console {
		return demoConsole(ctx, *listen, *worldListen, *keep, stdout)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the paidup binary to run: %w", err)
	}
	dir, err := os.MkdirTemp("", "paidup-demo-")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Fprintf(stdout, "\nEverything is kept in %s.\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	paidupPort, err := freePort()
	if err != nil {
		return err
	}
	shop := "http://127.0.0.1:" + paidupPort
	world, err := openDemoWorld(ctx, dir, shop)
	if err != nil {
		return err
	}
	defer world.close()
	processor, mb := world.processor, world.mailbox

	cfgPath := filepath.Join(dir, "paidup.yaml")
	dbURL := "sqlite:" + filepath.Join(dir, "paidup.db")
	cfg := strings.NewReplacer("{{PORT}}", paidupPort, "{{SANDBOX}}", world.processorURL, "{{SECRET}}", demoSecret,
		"{{SMTP}}", world.smtpURL, "{{KEY}}", demoAPIKey).Replace(demoConfig)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "paidup.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	start := func(failpoints string) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, exe, "serve", "--config", cfgPath, "--database-url", dbURL)
		cmd.Env = append(os.Environ(), "PAIDUP_FAILPOINTS="+failpoints)
		cmd.Stdout, cmd.Stderr = io.Discard, logFile
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting paidup: %w", err)
		}
		return cmd, waitHealthy(ctx, shop)
	}

	say("The $249 story, replayed on a throwaway database.\n")
	proc, err := start("fulfil.before_commit")
	if err != nil {
		return err
	}
	defer func() { proc.Process.Kill(); proc.Wait() }()

	const email = "ada@example.com"
	payURL, ref, err := startPurchase(shop, email)
	if err != nil {
		return err
	}
	say("1. Ada buys \"Pro, one year\" for $249.00. paidup writes down checkout %s", ref)
	say("   before sending her to the payment page.")
	returnURL, err := payOnPage(payURL)
	if err != nil {
		return err
	}
	say("2. She pays with the test card 4242 4242 4242 4242. The processor charges it.")
	// Her browser comes back to paidup, which confirms the payment and
	// starts writing the order — and dies before committing it.
	http.Get(returnURL)
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		return errors.New("paidup did not crash at the failpoint")
	}
	say("3. paidup crashes (a kill -9 at failpoint fulfil.before_commit) before the order is")
	say("   written, and the processor's webhooks are lost on the way too. Ada's bank shows")
	say("   $249.00; paidup has no grant for her. Her browser shows an error page.")
	say("   A hand-rolled integration: the same error page, and after its restart no trace")
	say("   of her order, since it writes one only when the webhook comes.")

	// The trouble that lost the webhooks is not over: for a moment
	// paidup cannot reach the processor either.
	processor.down()
	if proc, err = start(""); err != nil {
		return err
	}
	heading, err := customerSees(returnURL)
	if err != nil {
		return err
	}
	say("4. paidup restarts, but cannot reach the processor for a moment. Ada reloads the")
	say("   page. It says: %q,", heading)
	say("   asks her not to pay again, and gives her reference, %s.", ref)
	say("   A hand-rolled integration: \"Order not found\", or \"Payment failed\", and she")
	say("   pays a second time, or asks her bank for the money back.")

	if err := processor.up(); err != nil {
		return err
	}
	say("5. The processor answers again. No webhook will ever come. paidup's reconciler")
	say("   re-checks unfinished checkouts with the processor on a schedule (a minute after")
	say("   they start, in production; a second here)...")
	began := time.Now()
	if err := waitAccess(ctx, shop, email); err != nil {
		return err
	}
	if heading, err = customerSees(returnURL); err != nil {
		return err
	}
	say("   ...and finds the payment %s later: access granted. Ada's page, which", time.Since(began).Round(100*time.Millisecond))
	say("   refreshes itself, now says: %q.", heading)
	say("   A hand-rolled integration: still nothing, until she writes to support.")
	msgs, err := waitMail(ctx, mb, email)
	if err != nil {
		return err
	}
	say("6. Ada's mailbox has %d email: %q.", len(msgs), msgs[0].Subject)

	proc.Process.Signal(syscall.SIGTERM)
	proc.Wait()
	return printTimeline(ctx, dbURL, email, say)
}

// printTimeline prints the customer's timeline from the database, as
// support reads it, and checks paidup's invariants on it.
func printTimeline(ctx context.Context, dbURL, email string, say func(string, ...any)) error {
	db, s, err := openStore(ctx, dbURL, time.Now)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := s.CustomerByEmail(ctx, email)
	if err != nil {
		return err
	}
	entries, err := s.Timeline(ctx, c.ID, "")
	if err != nil {
		return err
	}
	say("7. Her timeline, as support would read it:")
	for _, e := range entries {
		say("   %s  %-12s %-11s %s", e.At.Local().Format("15:04:05.000"), e.Kind, e.Source, e.Summary)
	}
	r, err := s.Check(ctx)
	if err != nil {
		return err
	}
	if len(r.Violations) > 0 {
		return fmt.Errorf("paidup check found %d violations", len(r.Violations))
	}
	say("8. paidup check: every succeeded payment has exactly one grant, and every grant its confirmation.")
	return nil
}

// demoSecret signs the demo processor's webhooks (which never arrive).
const demoSecret = "whsec_demo_not_secret"

// demoWorld is the world outside paidup: the processor and the customer's
// mailbox, which stay up while paidup crashes, as Stripe and Gmail would.
type demoWorld struct {
	sandbox *sandbox.Sandbox
	// failing: the processor's API answers every call with an error, but
	// for its test clocks', as in a partial outage; listsFailing: its
	// lists of events, checkouts and payments (outageLists) do.
	failing, listsFailing atomic.Bool
	processor             *demoProcessor
	mailbox               *mailbox.Mailbox
	processorURL, smtpURL string
	closers               []func()
}

// openDemoWorld starts the demo's processor, which delivers no webhook to
// shop, and the mailbox, with their records in dir.
func openDemoWorld(ctx context.Context, dir, shop string) (w *demoWorld, err error) {
	return openWorld(ctx, dir, shop, "127.0.0.1:0", []sandbox.Fault{{Action: sandbox.FaultDrop}})
}

// openWorld starts the processor on address, delivering webhooks to shop
// with faults, and the mailbox, whose pages the processor's address
// serves under /mailbox/.
func openWorld(ctx context.Context, dir, shop, address string, faults []sandbox.Fault) (w *demoWorld, err error) {
	w = &demoWorld{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	log := slog.New(slog.DiscardHandler)
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "processor.db"))
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, func() { db.Close() })
	if w.mailbox, err = mailbox.Open(ctx, db, log); err != nil {
		return nil, err
	}
	smtpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go w.mailbox.Serve(smtpLn)
	w.closers = append(w.closers, func() { w.mailbox.Close() })
	w.smtpURL = "smtp://" + smtpLn.Addr().String()
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	w.processorURL = "http://" + ln.Addr().String()
	sb, err := sandbox.New(ctx, sandbox.Options{
		DB: db, BaseURL: w.processorURL, Business: "Example Community", Logger: log,
		Prices: []sandbox.SeedPrice{{ID: "price_pro_annual", ProductName: "Pro, one year", Amount: 24900, Currency: "usd"},
			{ID: "price_pro_monthly", ProductName: "Pro, monthly", Amount: 1200, Currency: "usd", Interval: "month"}},
		Endpoints: []sandbox.EndpointConfig{{URL: shop + "/webhooks/stripe", Secret: demoSecret}},
		Faults:    faults,
		Links:     []sandbox.Link{{Name: "Mailbox", URL: "/mailbox/"}},
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	go sb.Run(runCtx)
	w.closers = append(w.closers, stop)
	w.sandbox = sb
	mux := http.NewServeMux()
	mux.Handle("/mailbox/", w.mailbox.Handler("/mailbox"))
	api := sb.Handler()
	mux.Handle("/", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.failing.Load() && strings.HasPrefix(r.URL.Path, "/v1/") && !strings.HasPrefix(r.URL.Path, "/v1/test_helpers/test_clocks") ||
			w.listsFailing.Load() && r.Method == http.MethodGet && slices.Contains(outageLists, r.URL.Path) {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusInternalServerError)
			io.WriteString(rw, `{"error":{"type":"api_error","message":"An unexpected error occurred (the demo's outage)."}}`)
			return
		}
		api.ServeHTTP(rw, r)
	}))
	w.processor = &demoProcessor{handler: mux, ln: ln}
	w.processor.up()
	w.closers = append(w.closers, w.processor.down)
	return w, nil
}

// outageLists are the processor's lists that fail in the console demo's
// lasting outage: those paidup's sweep reads to find payments.
var outageLists = []string{"/v1/events", "/v1/checkout/sessions", "/v1/payment_intents"}

func (w *demoWorld) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

const demoConfig = `server:
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
tiers:
  - {id: pro, name: Pro, rank: 20}
plans:
  - {id: pro-annual, name: "Pro, one year", tier: pro, price: price_pro_annual, amount: "249.00", currency: usd, interval: once, term: 1y}
smtp:
  url: {{SMTP}}
  from: Example Community <billing@example.com>
oncall:
  emails: [oncall@example.com]
api:
  keys: [{{KEY}}]
reconciler:
  interval: 300ms
  recheck: [1s, 2s, 5s, 1h]
`

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func waitHealthy(ctx context.Context, base string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("paidup did not become healthy")
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var referencePattern = regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`)

// startPurchase fills in the buy form of the annual plan and returns the
// payment page.
func startPurchase(shop, email string) (payURL, ref string, err error) {
	return startPlanPurchase(shop, "pro-annual", email)
}

// startPlanPurchase fills in a plan's buy form and returns the payment
// page.
func startPlanPurchase(shop, plan, email string) (payURL, ref string, err error) {
	resp, err := http.Get(shop + "/buy/" + plan)
	if err != nil {
		return "", "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := referencePattern.FindSubmatch(body)
	if m == nil {
		return "", "", errors.New("the buy form has no reference")
	}
	ref = string(m[1])
	resp, err = noFollow.PostForm(shop+"/buy/"+plan, url.Values{"email": {email}, "reference": {ref}})
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", "", fmt.Errorf("buying: %s", resp.Status)
	}
	return resp.Header.Get("Location"), ref, nil
}

// payOnPage pays on the processor's page with the test card that
// succeeds, and returns where it sends the customer back to.
func payOnPage(payURL string) (string, error) { return payWithCard(payURL, "4242 4242 4242 4242") }

// payWithCard pays on the processor's page with a test card.
func payWithCard(payURL, card string) (string, error) {
	resp, err := noFollow.PostForm(payURL, url.Values{"card_number": {card}, "exp": {"12/34"}, "cvc": {"123"}, "name": {"Ada Lovelace"}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("paying: %s", resp.Status)
	}
	return resp.Header.Get("Location"), nil
}

// waitAccess waits until the operator's API says the customer has access.
func waitAccess(ctx context.Context, shop, email string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, shop+"/api/v1/access?email="+url.QueryEscape(email), nil)
		req.Header.Set("Authorization", "Bearer "+demoAPIKey)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var a struct{ Active bool }
			json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if a.Active {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the customer did not get access within two minutes")
}

func waitMail(ctx context.Context, mb *mailbox.Mailbox, to string) ([]mailbox.Message, error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		msgs, err := mb.Messages(ctx, to, 10)
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, errors.New("no confirmation email arrived")
}

// demoProcessor serves the sandbox on its address, and can stop and
// start again, as a processor behind a network that fails for a moment.
type demoProcessor struct {
	handler http.Handler
	ln      net.Listener
	addr    string
	srv     *http.Server
}

func (p *demoProcessor) up() error {
	if p.ln == nil {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("the processor's address: %w", err)
		}
		p.ln = ln
	}
	p.addr = p.ln.Addr().String()
	p.srv = &http.Server{Handler: p.handler}
	go p.srv.Serve(p.ln)
	return nil
}

func (p *demoProcessor) down() {
	if p.srv != nil {
		p.srv.Close()
		p.srv, p.ln = nil, nil
	}
}

var heading = regexp.MustCompile(`<h1>([^<]*)</h1>`)

// customerSees is the heading of the page at address, as the customer
// reads it.
func customerSees(address string) (string, error) {
	resp, err := http.Get(address)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	m := heading.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("the page at %s has no heading (status %s)", address, resp.Status)
	}
	return html.UnescapeString(string(m[1])), nil
}
