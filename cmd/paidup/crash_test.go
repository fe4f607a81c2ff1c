package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// Scenarios: who tells paidup about the payment first.
const (
	webhookFirst   = "webhook-first"   // webhooks deliver; then the customer comes back
	returnFirst    = "return-first"    // webhooks delayed; the customer comes back at once
	bothAtOnce     = "both"            // no faults: the return page races the webhooks
	webhookDropped = "webhook-dropped" // every webhook lost; the customer never comes back
)

var crashScenarios = []string{webhookFirst, returnFirst, bothAtOnce, webhookDropped}

const (
	mailpitVersion   = "v1.27.11"
	crashStripeKey   = "sk_test_crash_matrix"
	crashWebhookKey  = "whsec_crash_matrix_0123456789abcdef"
	crashAPIKey      = "crash-matrix-api-key-0123456789abcdef"
	crashParallelism = 4
	// crashDeadline bounds how long a case waits for paidup to settle
	// after the customer's journey.
	crashDeadline = 60 * time.Second
)

// TestCrashMatrix is the $249 story for every failpoint paidup has, in
// every order the customer's return and the processor's webhooks can come
// in, on both engines. Each case runs the real paidup binary as a child
// process against a separate `paidup sandbox` process (which stays up, as
// Stripe would) and a real mail server (Mailpit). The first run of paidup
// has one failpoint armed; when it fires, paidup is killed with SIGKILL and
// restarted on the same database without failpoints, and the customer
// carries on (reloading a page that broke). The reconciler runs with an
// injected fast clock. Whatever happened, in the end the customer has
// access, exactly one grant, exactly one confirmation email at the mail
// server, and `paidup check` passes. A failpoint a scenario never reaches
// does not fire; the case must pass all the same, and the summary logged at
// the end shows which fired.
//
// With -short only a smoke subset runs. The test needs Mailpit:
// PAIDUP_TEST_MAILPIT names the binary, else `mailpit` on PATH, else the
// test builds it once into the user's cache directory with `go install`.
// If that fails it skips, or fails when PAIDUP_TEST_REQUIRE_MAILPIT=1 (as
// in CI). PAIDUP_TEST_CRASH_LOGS=DIR keeps each case's logs and
// configuration in DIR.
func TestCrashMatrix(t *testing.T) {
	mp := startMailpit(t) // first: without Mailpit the test skips
	bin := buildPaidup(t)
	// The purchase path's failpoints; the lifecycle's, the duplicate
	// refund's, the support case's and the support actions' have their
	// own tests.
	points := slices.DeleteFunc(listFailpoints(t, bin), func(p string) bool { return lifecyclePoint(p) || refundPoint(p) || casePoint(p) || supportPoint(p) })

	type crashCase struct {
		engine    sqldb.Engine
		point     string
		scenario  string
		crashed   bool
		duration  time.Duration
		ran       bool
		completed bool
	}
	var cases []*crashCase
	if testing.Short() {
		// A smoke subset: a crash in the middle of fulfilment, and one
		// between the mail server accepting the confirmation and paidup
		// recording it, with only the reconciler to repair it.
		cases = []*crashCase{
			{engine: sqldb.SQLite, point: "fulfil.before_commit", scenario: bothAtOnce},
			{engine: sqldb.SQLite, point: "email.after_send", scenario: webhookDropped},
		}
	} else {
		for _, engine := range sqldbtest.Engines {
			for _, p := range points {
				for _, s := range crashScenarios {
					cases = append(cases, &crashCase{engine: engine, point: p, scenario: s})
				}
			}
		}
	}

	start := time.Now()
	sem := make(chan struct{}, crashParallelism)
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		// t.Run may be called from several goroutines at once; the
		// semaphore, not -parallel, bounds how many cases run together.
		go func() {
			defer wg.Done()
			t.Run(string(c.engine)+"_"+c.point+"_"+c.scenario, func(t *testing.T) {
				sem <- struct{}{}
				defer func() { <-sem }()
				c.ran = true
				began := time.Now()
				c.crashed = runCrashCase(t, bin, mp, c.engine, c.point, c.scenario)
				c.duration, c.completed = time.Since(began), !t.Failed() && !t.Skipped()
			})
		}()
	}
	wg.Wait()

	// A summary: which failpoints each scenario reached.
	var b strings.Builder
	ran := 0
	for _, c := range cases {
		if c.ran {
			ran++
		}
	}
	fmt.Fprintf(&b, "crash matrix: %d cases in %s (failpoint reached: CRASH; not reached: -; failed or skipped: ??)\n", ran, time.Since(start).Round(time.Second))
	for _, engine := range sqldbtest.Engines {
		if !slices.ContainsFunc(cases, func(c *crashCase) bool { return c.engine == engine && c.ran }) {
			continue
		}
		fmt.Fprintf(&b, "%-10s %-24s", engine, "")
		for _, s := range crashScenarios {
			fmt.Fprintf(&b, " %-16s", s)
		}
		b.WriteString("\n")
		for _, p := range points {
			row := fmt.Sprintf("%-10s %-24s", "", p)
			found := false
			for _, s := range crashScenarios {
				cell := ""
				for _, c := range cases {
					if c.engine == engine && c.point == p && c.scenario == s && c.ran {
						found = true
						switch {
						case !c.completed:
							cell = "??"
						case c.crashed:
							cell = "CRASH"
						default:
							cell = "-"
						}
						cell += " " + c.duration.Round(100*time.Millisecond).String()
					}
				}
				row += fmt.Sprintf(" %-16s", cell)
			}
			if found {
				b.WriteString(row + "\n")
			}
		}
	}
	t.Log(b.String())
}

// atRest waits, restarting paidup if a failpoint killed it, until every
// webhook is delivered and processed and every job but the periodic ones
// is done.
func (c *crashSetup) atRest(t *testing.T, p *paidupChild) {
	t.Helper()
	waitRestarting(t, p, "rest", func() bool {
		return !strings.Contains(sandboxCall(t, c.sandboxURL, http.MethodGet, "/_sandbox/deliveries?status=pending", ""), `"id"`) &&
			c.count(t, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable') AND kind NOT IN ('reconcile', 'deadline_sweep')`) == 0 &&
			c.count(t, `SELECT count(*) FROM webhook_events WHERE processed_at IS NULL`) == 0
	})
}

// eachCrashCase runs run for each engine and failpoint, as subtests named
// ENGINE_POINT, three at a time; with -short, only shortPoint on SQLite.
func eachCrashCase(t *testing.T, points []string, shortPoint string, run func(t *testing.T, engine sqldb.Engine, point string)) {
	engines := sqldbtest.Engines
	if testing.Short() {
		points, engines = []string{shortPoint}, []sqldb.Engine{sqldb.SQLite}
	}
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for _, engine := range engines {
		for _, point := range points {
			wg.Go(func() {
				t.Run(string(engine)+"_"+point, func(t *testing.T) {
					sem <- struct{}{}
					defer func() { <-sem }()
					run(t, engine, point)
				})
			})
		}
	}
	wg.Wait()
}

// runCrashCase is one customer's purchase with one failpoint armed. It
// reports whether the failpoint fired.
func runCrashCase(t *testing.T, bin string, mp *mailpit, engine sqldb.Engine, point, scenario string) bool {
	c := newCrashSetup(t, bin, mp, engine)
	dbURL, db, shop, sandboxURL, oncall := c.dbURL, c.db, c.shop, c.sandboxURL, c.oncall
	customer := "buyer-" + c.id + "@example.com"
	p := c.startPaidup(t, bin, mp, point, crashConfig{})
	cfgPath := p.config

	// The scenario's webhook faults, before anything is paid.
	switch scenario {
	case returnFirst:
		sandboxCall(t, sandboxURL, http.MethodPost, "/_sandbox/faults", `{"faults":[{"action":"delay","event":"*","delay":"3s"}]}`)
	case webhookDropped:
		sandboxCall(t, sandboxURL, http.MethodPost, "/_sandbox/faults", `{"faults":[{"action":"drop","event":"*"}]}`)
	}

	// The customer opens the plan and continues to payment. If paidup dies
	// under them, they press reload: the same form, the same reference.
	_, form := p.request(http.MethodGet, "/buy/pro-annual", nil, http.StatusOK)
	ref := regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`).FindStringSubmatch(form)
	if ref == nil {
		t.Fatalf("no reference on the buy form:\n%s", form)
	}
	resp, _ := p.request(http.MethodPost, "/buy/pro-annual", url.Values{"email": {customer}, "reference": {ref[1]}}, http.StatusSeeOther)
	payPage := resp.Header.Get("Location")
	if !strings.HasPrefix(payPage, sandboxURL+"/c/pay/cs_test_") {
		t.Fatalf("the buy form sent the customer to %q, not the sandbox's payment page", payPage)
	}

	// Nothing is granted before the customer pays.
	if a := p.access(customer); a.Active || len(a.Grants) != 0 {
		t.Fatalf("before paying, the customer has access: %+v", a)
	}

	// The customer pays on the processor's page, which sends them back.
	back := payOnSandboxPage(t, payPage)
	if !returnAddress(shop, ref[1]).MatchString(back) {
		t.Fatalf("after paying, the processor sent the customer to %q", back)
	}
	backPath := strings.TrimPrefix(back, shop)

	returned := false
	switch scenario {
	case webhookFirst:
		// The webhooks arrive first; the customer comes back once they
		// have done their work (or paidup died doing it).
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) && !p.proc.exited() {
			if a, ok := p.tryAccess(customer); ok && a.Active {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.customerSees(backPath)
		returned = true
	case returnFirst, bothAtOnce:
		p.customerSees(backPath)
		returned = true
	case webhookDropped:
		// The customer closed the tab: only the reconciler can help.
	}

	p.waitSettled(customer, oncall, sandboxURL, db)

	// The invariants hold on the database paidup left.
	out, err := runCheck(bin, cfgPath, dbURL)
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("paidup check: %v\n%s", err, out)
	}
	if returned {
		// The customer's page, reloaded, says they are in.
		if body := p.customerSees(backPath); !strings.Contains(body, "<h1>You're in</h1>") {
			t.Fatalf("after fulfilment the status page does not say \"You're in\":\n%s", body)
		}
	}
	// Nothing more arrives late: still one grant and one email.
	time.Sleep(300 * time.Millisecond)
	p.ensureUp()
	if a := p.access(customer); len(a.Grants) != 1 {
		t.Fatalf("in the end, %d grants: %+v", len(a.Grants), a.Grants)
	}
	if msgs := mp.messagesTo(t, customer); len(msgs) != 1 {
		t.Fatalf("in the end, %d emails to the customer: %v", len(msgs), msgs)
	}
	// One purchase left one of everything: reloading after a crash reused
	// the checkout rather than starting a second one, and nothing needed
	// a person.
	for _, c := range []struct {
		what, query string
		want        int
	}{
		{"checkout attempts", `SELECT count(*) FROM checkout_attempts`, 1},
		{"fulfilled checkout attempts", `SELECT count(*) FROM checkout_attempts WHERE status = 'fulfilled'`, 1},
		{"customers", `SELECT count(*) FROM customers`, 1},
		{"payments", `SELECT count(*) FROM payments`, 1},
		{"grants", `SELECT count(*) FROM grants`, 1},
		{"emails", `SELECT count(*) FROM emails`, 1},
		{"sent confirmation emails", `SELECT count(*) FROM emails WHERE kind = 'confirmation' AND status = 'sent'`, 1},
		{"support cases", `SELECT count(*) FROM support_cases`, 0},
	} {
		var n int
		if err := db.Read.QueryRow(c.query).Scan(&n); err != nil {
			t.Fatalf("counting %s: %v", c.what, err)
		}
		if n != c.want {
			t.Fatalf("%d %s, want %d", n, c.what, c.want)
		}
	}
	var sessions struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	json.Unmarshal([]byte(sandboxCall(t, sandboxURL, http.MethodGet, "/v1/checkout/sessions", "")), &sessions)
	if len(sessions.Data) != 1 {
		t.Fatalf("the processor has %d checkout sessions, want 1: %+v", len(sessions.Data), sessions.Data)
	}

	if p.crashed {
		t.Logf("failpoint %s fired (scenario %s); paidup restarted %d time(s); the customer has access, one grant and one email", point, scenario, p.runs-1)
	} else {
		t.Logf("failpoint %s was not reached in scenario %s; the purchase completed normally", point, scenario)
	}
	return p.crashed
}

// crashSetup is what a crash case starts with: its directory, a fresh
// database, an address for paidup, and the processor (a `paidup sandbox`
// process), up for the whole case as Stripe would be.
type crashSetup struct {
	dir, dbURL, shop, sandboxURL string
	listen                       string
	id, oncall                   string
	db                           *sqldb.DB
}

// count runs a count query on the case's database.
func (c *crashSetup) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := c.db.Read.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitRestarting waits for what a step leads to, restarting paidup if a
// failpoint killed it.
func waitRestarting(t *testing.T, p *paidupChild, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(crashDeadline)
	for {
		p.ensureUp()
		if done() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %s\npaidup's log:\n%s", what, crashDeadline, logTail(p.lastLog))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newCrashSetup(t *testing.T, bin string, mp *mailpit, engine sqldb.Engine) *crashSetup {
	t.Helper()
	c := &crashSetup{dir: t.TempDir()}
	if keep := os.Getenv("PAIDUP_TEST_CRASH_LOGS"); keep != "" {
		// Keep the case's configuration and logs for reading afterwards.
		c.dir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.dbURL = sqldbtest.URL(t, engine)
	db, err := sqldb.Open(context.Background(), c.dbURL)
	if err != nil {
		t.Fatalf("opening %s: %v", sqldb.Redact(c.dbURL), err)
	}
	t.Cleanup(func() { db.Close() })
	c.db = db
	c.id = crashID(5)
	c.oncall = "oncall-" + c.id + "@example.com"
	c.listen = "127.0.0.1:" + strconv.Itoa(crashPort(t))
	c.shop = "http://" + c.listen

	sbConfig := filepath.Join(c.dir, "sandbox.yaml")
	writeCrashConfig(t, sbConfig, crashConfig{listen: c.listen, dbURL: c.dbURL, smtp: mp.smtpURL(), oncall: c.oncall})
	sbLog := filepath.Join(c.dir, "sandbox.log")
	sb := startChildProc(t, bin, sbLog, childEnv(""), "sandbox", "--config", sbConfig,
		"--sandbox-listen", "127.0.0.1:0", "--sandbox-database-url", "sqlite:"+filepath.Join(c.dir, "sandbox.db"),
		"--webhook-url", c.shop+"/webhooks/stripe", "--webhook-secret", crashWebhookKey, "--smtp-listen", "off", "--log-level", "warn")
	c.sandboxURL = waitForLine(t, sb, sbLog, regexp.MustCompile(`API:\s+(http://127\.0\.0\.1:\d+)/v1`))
	waitChildHealthy(t, sb, c.sandboxURL+"/healthz", sbLog)
	return c
}

// startPaidup writes paidup's configuration (cfg, completed with the
// case's address, database, processor and mail server) and starts it with
// the failpoint armed.
func (c *crashSetup) startPaidup(t *testing.T, bin string, mp *mailpit, point string, cfg crashConfig) *paidupChild {
	t.Helper()
	cfg.listen, cfg.dbURL, cfg.apiURL, cfg.smtp, cfg.oncall = c.listen, c.dbURL, c.sandboxURL, mp.smtpURL(), c.oncall
	cfgPath := filepath.Join(c.dir, "paidup.yaml")
	writeCrashConfig(t, cfgPath, cfg)
	p := &paidupChild{t: t, bin: bin, config: cfgPath, dbURL: c.dbURL, shop: c.shop, dir: c.dir, point: point, mail: mp}
	p.start(true)
	return p
}

// paidupChild is paidup under test, as a child process on a fixed address
// and database across its restarts.
type paidupChild struct {
	t                             *testing.T
	bin, config, dbURL, shop, dir string
	point                         string
	mail                          *mailpit
	proc                          *childProc
	runs                          int
	crashed                       bool
	lastLog                       string
}

// start runs paidup, with the case's failpoint armed if armed, and waits
// until it serves.
func (p *paidupChild) start(armed bool) {
	p.t.Helper()
	points := ""
	if armed {
		points = p.point
	}
	p.runs++
	p.lastLog = filepath.Join(p.dir, fmt.Sprintf("paidup-%d.log", p.runs))
	for try := 0; ; try++ {
		p.proc = startChildProc(p.t, p.bin, p.lastLog, childEnv(points), "serve", "--config", p.config, "--log-level", "debug")
		if p.waitServing() {
			return
		}
		// The address is taken for a moment, or the failpoint fired
		// while starting: see what happened.
		if p.proc.killed() && armed {
			return // ensureUp restarts it
		}
		if try < 20 && strings.Contains(readLog(p.lastLog), "already in use") {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		p.t.Fatalf("paidup did not start (%s):\n%s", p.proc.state(), logTail(p.lastLog))
	}
}

// waitServing waits until paidup answers /healthz, or exits.
func (p *paidupChild) waitServing() bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.proc.exited() {
			return false
		}
		resp, err := quickClient.Get(p.shop + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.t.Fatalf("paidup did not become healthy within 30s:\n%s", logTail(p.lastLog))
	return false
}

// ensureUp restarts paidup, without failpoints, if its failpoint killed
// it. Any other exit fails the test.
func (p *paidupChild) ensureUp() {
	p.t.Helper()
	if !p.proc.exited() {
		return
	}
	if p.runs != 1 || !p.proc.killed() || !strings.Contains(readLog(p.lastLog), "failpoint "+p.point+" reached") {
		p.t.Fatalf("paidup exited (%s) without its failpoint firing:\n%s", p.proc.state(), logTail(p.lastLog))
	}
	p.crashed = true
	p.t.Logf("failpoint %s fired: paidup was killed; restarting it on the same database", p.point)
	p.start(false)
}

// request is the customer's browser (without following redirects): if
// paidup dies under a request, it is restarted and the request repeated,
// as a customer reloads a page that broke.
func (p *paidupChild) request(method, path string, form url.Values, want int) (*http.Response, string) {
	p.t.Helper()
	for try := 0; ; try++ {
		p.ensureUp()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, p.shop+path, body)
		if err != nil {
			p.t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if strings.HasPrefix(path, "/api/") {
			req.Header.Set("Authorization", "Bearer "+crashAPIKey)
		}
		resp, err := customerClient.Do(req)
		var data []byte
		if err == nil {
			data, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			if resp.StatusCode != want {
				p.t.Fatalf("%s %s: status %d, want %d:\n%s\npaidup's log:\n%s", method, path, resp.StatusCode, want, data, logTail(p.lastLog))
			}
			return resp, string(data)
		}
		// The connection broke: paidup must have died.
		if !p.proc.waitExit(10*time.Second) || try >= 3 {
			p.t.Fatalf("%s %s: %v (paidup %s)\n%s", method, path, err, p.proc.state(), logTail(p.lastLog))
		}
	}
}

// customerSees loads the checkout status page as the customer, and checks
// that a customer who paid is never told anything but "confirming" or
// "you're in".
func (p *paidupChild) customerSees(path string) string {
	p.t.Helper()
	_, body := p.request(http.MethodGet, path, nil, http.StatusOK)
	if !strings.Contains(body, "<h1>You're in</h1>") && !strings.Contains(body, "<h1>We're confirming your payment</h1>") {
		p.t.Fatalf("a customer who paid sees neither \"You're in\" nor \"confirming\":\n%s", body)
	}
	return body
}

// accessView is the part of GET /api/v1/access the test reads.
type accessView struct {
	Active  bool   `json:"active"`
	Blocked bool   `json:"blocked"`
	Tier    string `json:"tier"`
	Grants  []struct {
		ID        string `json:"id"`
		Tier      string `json:"tier"`
		SourceRef string `json:"source_ref"`
	} `json:"grants"`
}

func (p *paidupChild) access(email string) accessView {
	p.t.Helper()
	_, body := p.request(http.MethodGet, "/api/v1/access?email="+url.QueryEscape(email), nil, http.StatusOK)
	var a accessView
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		p.t.Fatalf("access API: %v\n%s", err, body)
	}
	return a
}

// tryAccess asks without restarting paidup.
func (p *paidupChild) tryAccess(email string) (accessView, bool) {
	req, _ := http.NewRequest(http.MethodGet, p.shop+"/api/v1/access?email="+url.QueryEscape(email), nil)
	req.Header.Set("Authorization", "Bearer "+crashAPIKey)
	resp, err := quickClient.Do(req)
	if err != nil {
		return accessView{}, false
	}
	defer resp.Body.Close()
	var a accessView
	return a, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&a) == nil
}

// waitSettled waits until the purchase has come to rest — access granted,
// every webhook delivered or dropped, every event processed and email
// sent — restarting paidup if its failpoint kills it meanwhile, and fails
// at once on a second grant or a second email.
func (p *paidupChild) waitSettled(customer, oncall, sandboxURL string, db *sqldb.DB) {
	p.t.Helper()
	deadline := time.Now().Add(crashDeadline)
	for {
		p.ensureUp()
		why := p.unsettled(customer, oncall, sandboxURL, db)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("not settled after %s: %s\npaidup's log:\n%s", crashDeadline, why, logTail(p.lastLog))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unsettled says what is still missing, or "" when the purchase is done.
func (p *paidupChild) unsettled(customer, oncall, sandboxURL string, db *sqldb.DB) string {
	t := p.t
	a, ok := p.tryAccess(customer)
	if !ok {
		return "the access API does not answer"
	}
	if len(a.Grants) > 1 {
		t.Fatalf("the customer has %d grants: %+v", len(a.Grants), a.Grants)
	}
	if !a.Active || a.Tier != "pro" || len(a.Grants) != 1 {
		return fmt.Sprintf("no access yet: %+v", a)
	}
	mp := p.mail
	msgs := mp.messagesTo(t, customer)
	if len(msgs) > 1 {
		t.Fatalf("the customer got %d emails: %v", len(msgs), msgs)
	}
	if len(msgs) == 1 && !strings.HasPrefix(msgs[0], "You're in") {
		t.Fatalf("the customer's email is not a confirmation: %q", msgs[0])
	}
	if alerts := mp.messagesTo(t, oncall); len(alerts) > 0 {
		t.Fatalf("on-call was alerted: %v", alerts)
	}
	var pending []string
	for _, status := range []string{"pending", "held"} {
		var ds struct {
			Deliveries []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"deliveries"`
		}
		json.Unmarshal([]byte(sandboxCall(t, sandboxURL, http.MethodGet, "/_sandbox/deliveries?status="+status, "")), &ds)
		for _, d := range ds.Deliveries {
			pending = append(pending, d.Type+" ("+status+")")
		}
	}
	if len(pending) > 0 {
		return "webhooks not yet delivered: " + strings.Join(pending, ", ")
	}
	rows, err := db.Read.Query(`SELECT kind, state, attempt FROM river_job WHERE kind <> 'reconcile' AND state <> 'completed'`)
	if err != nil {
		return "reading the job queue: " + err.Error()
	}
	var jobs []string
	for rows.Next() {
		var kind, state string
		var attempt int
		rows.Scan(&kind, &state, &attempt)
		jobs = append(jobs, fmt.Sprintf("%s %s (attempt %d)", kind, state, attempt))
	}
	rows.Close()
	if len(jobs) > 0 {
		return "jobs not done: " + strings.Join(jobs, ", ")
	}
	if len(msgs) != 1 {
		return "no confirmation email at the mail server yet"
	}
	return ""
}

// returnAddress matches where the processor sends the buyer of the
// checkout with reference ref back to: its status page, opened by the
// status token, and the checkout's id.
func returnAddress(shop, ref string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(shop+"/checkout/"+ref) + `\?token=[A-Za-z0-9_-]{43}&checkout=cs_test_\w+$`)
}

// payOnSandboxPage pays on the sandbox's hosted checkout page with the test card,
// and returns where it sends the customer back to.
func payOnSandboxPage(t *testing.T, page string) string {
	t.Helper()
	resp, err := customerClient.PostForm(page, url.Values{
		"card_number": {"4242 4242 4242 4242"}, "exp": {"12 / 34"}, "cvc": {"123"}, "name": {"Ada Lovelace"},
	})
	if err != nil {
		t.Fatalf("paying: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("paying: status %d:\n%s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// sandboxCall calls the sandbox's API with a test key and returns the body
// of a 200.
func sandboxCall(t *testing.T, sandboxURL, method, path, jsonBody string) string {
	t.Helper()
	var body io.Reader
	if jsonBody != "" {
		body = strings.NewReader(jsonBody)
	}
	req, err := http.NewRequest(method, sandboxURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+crashStripeKey)
	if jsonBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := quickClient.Do(req)
	if err != nil {
		t.Fatalf("sandbox %s %s: %v", method, path, err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox %s %s: status %d:\n%s", method, path, resp.StatusCode, data)
	}
	return string(data)
}

var (
	customerClient = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	quickClient    = &http.Client{Timeout: 5 * time.Second}
)

// crashConfig is what differs between the cases' configuration files.
type crashConfig struct {
	listen, dbURL, apiURL, smtp, oncall string
	// testClock makes paidup's clock follow the sandbox's test clock.
	testClock string
	// publicURL is where customers reach paidup, if not at listen (a
	// proxy in front of several instances).
	publicURL string
	// trustedProxies is server.trusted_proxies, as YAML (a proxy in
	// front whose X-Forwarded-For names the customer).
	trustedProxies string
	// extra is more configuration, as YAML sections.
	extra string
}

// writeCrashConfig writes paidup's configuration for a case: Stripe at the
// sandbox's address, mail to Mailpit, the access API on, and the
// reconciler on a fast clock. The sandbox reads it too, for the plans'
// prices and a short webhook retry schedule.
func writeCrashConfig(t *testing.T, path string, c crashConfig) {
	t.Helper()
	publicURL := ""
	if c.publicURL != "" {
		publicURL = fmt.Sprintf("\n  public_url: %q", c.publicURL)
	}
	if c.trustedProxies != "" {
		publicURL += "\n  trusted_proxies: " + c.trustedProxies
	}
	cfg := fmt.Sprintf(`server:
  listen: %s%s
database:
  url: %q
business:
  name: Crash Matrix Community
  support_email: support@example.com
processor:
  kind: stripe
  stripe:
    secret_key: %s
    webhook_secrets: [%s]
    api_url: %q
    test_clock: %q
sandbox:
  retry_schedule: [1s, 1s, 2s, 3s, 5s, 10s]
tiers:
  - id: supporter
    name: Supporter
    rank: 10
  - id: pro
    name: Pro
    rank: 20
plans:
  - id: supporter-lifetime
    name: Supporter, lifetime
    tier: supporter
    price: price_supporter_lifetime
    amount: "49.00"
    currency: usd
    interval: once
  - id: pro-annual
    name: Pro, one year
    tier: pro
    price: price_pro_annual
    amount: "249.00"
    currency: usd
    interval: once
    term: 1y
  - id: pro-monthly
    name: Pro, monthly
    tier: pro
    price: price_pro_monthly
    amount: "19.00"
    currency: usd
    interval: month
smtp:
  url: %q
  from: Crash Matrix Community <billing@example.com>
oncall:
  emails: [%s]
api:
  keys: [%s]
reconciler:
  interval: 250ms
  recheck: [1s, 1s, 2s, 2s, 5s, 5s, 10s]
  overlap: 1m
`, c.listen, publicURL, c.dbURL, crashStripeKey, crashWebhookKey, c.apiURL, c.testClock, c.smtp, c.oncall, crashAPIKey) + c.extra
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// child is a process the test started, in a process group of its own so
// that it and anything it starts are killed when the test ends.
type childProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startChildProc(t *testing.T, bin, logPath string, env []string, args ...string) *childProc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	c := &childProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(c.stop)
	return c
}

// stop kills the child's process group and waits for the child.
func (c *childProc) stop() {
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
	}
}

func (c *childProc) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *childProc) waitExit(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// killed reports whether the child was killed with SIGKILL, as a failpoint
// kills paidup.
func (c *childProc) killed() bool {
	if !c.exited() {
		return false
	}
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (c *childProc) state() string {
	if !c.exited() {
		return "running"
	}
	return c.cmd.ProcessState.String()
}

// childEnv is the test's environment without PAIDUP_ settings, plus the
// failpoints to arm.
func childEnv(failpoints string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAIDUP_") {
			env = append(env, kv)
		}
	}
	if failpoints != "" {
		env = append(env, "PAIDUP_FAILPOINTS="+failpoints)
	}
	return env
}

// waitForLine waits for a line matching re in a child's output and returns
// its first group.
func waitForLine(t *testing.T, c *childProc, logPath string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(readLog(logPath)); m != nil {
			return m[1]
		}
		if c.exited() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no line matching %s from %s (%s):\n%s", re, c.cmd.Path, c.state(), logTail(logPath))
	return ""
}

func waitChildHealthy(t *testing.T, c *childProc, healthURL, logPath string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !c.exited() {
		resp, err := quickClient.Get(healthURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s is not healthy (%s):\n%s", healthURL, c.state(), logTail(logPath))
}

func readLog(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// tail is the end of a log, for failure messages.
func logTail(path string) string {
	s := readLog(path)
	if len(s) > 12000 {
		s = "…" + s[len(s)-12000:]
	}
	return s
}

func crashID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// crashPort returns a loopback port that is free now and that no other case
// uses, below the kernel's ephemeral range, so that while paidup is down
// no outgoing connection takes its port.
func crashPort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 20000 + mathrand.IntN(12000)
		if ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		ports[port] = true
		return port
	}
	t.Fatal("no free port")
	return 0
}

// buildPaidup builds the paidup binary once for the test.
func buildPaidup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "paidup")
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Fatalf("finding the module root: %v", err)
	}
	cmd := exec.Command("go", "build", "-o", bin, "github.com/paidup/paidup/cmd/paidup")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building paidup: %v\n%s", err, out)
	}
	return bin
}

// lifecyclePoint reports whether a failpoint is on the subscription
// lifecycle's path rather than the purchase path.
func lifecyclePoint(name string) bool {
	for _, prefix := range []string{"lifecycle.", "deadline.", "dispute.", "block.", "account."} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// listFailpoints asks the binary for its failpoints, so that a new one
// joins the matrix by itself.
func listFailpoints(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "failpoints").Output()
	if err != nil {
		t.Fatalf("paidup failpoints: %v", err)
	}
	var points []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if name, _, _ := strings.Cut(sc.Text(), "\t"); name != "" {
			points = append(points, name)
		}
	}
	if len(points) == 0 {
		t.Fatalf("paidup failpoints lists none:\n%s", out)
	}
	return points
}

// mailpit is the mail server the cases' paidup sends to.
type mailpit struct {
	smtpAddr, api string
}

func (m *mailpit) smtpURL() string {
	// Mailpit accepts any user and password: paidup signs in as it would
	// with a real provider.
	return "smtp://paidup:crash-matrix@" + m.smtpAddr
}

// messagesTo returns the subjects of the messages to addr.
func (m *mailpit) messagesTo(t *testing.T, addr string) []string {
	t.Helper()
	resp, err := quickClient.Get(m.api + "/api/v1/search?limit=100&query=" + url.QueryEscape("to:"+addr))
	if err != nil {
		t.Fatalf("asking Mailpit: %v", err)
	}
	defer resp.Body.Close()
	var res struct {
		Messages []struct {
			Subject string        `json:"Subject"`
			To      []mailAddress `json:"To"`
		} `json:"messages"`
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("asking Mailpit: status %d: %s", resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatalf("reading Mailpit's answer: %v", err)
	}
	var subjects []string
	for _, msg := range res.Messages {
		if slices.ContainsFunc(msg.To, func(a mailAddress) bool { return strings.EqualFold(a.Address, addr) }) {
			subjects = append(subjects, msg.Subject)
		}
	}
	return subjects
}

type mailAddress struct {
	Address string `json:"Address"`
}

// startMailpit runs Mailpit for the test. It keeps one message per
// Message-ID, as Gmail does: paidup resends a confirmation with the same
// Message-ID if it crashed after the server accepted it and before
// recording that, and such a resend must not reach the customer twice.
func startMailpit(t *testing.T) *mailpit {
	t.Helper()
	return startMailpitWith(t, true)
}

// startMailpitWith runs Mailpit, keeping one message per Message-ID if
// dedupe, else every message it accepts (so that a test can count the
// resends).
func startMailpitWith(t *testing.T, dedupe bool) *mailpit {
	t.Helper()
	bin := findMailpit(t)
	dir := t.TempDir()
	m := &mailpit{
		smtpAddr: "127.0.0.1:" + strconv.Itoa(crashPort(t)),
		api:      "http://127.0.0.1:" + strconv.Itoa(crashPort(t)),
	}
	logPath := filepath.Join(dir, "mailpit.log")
	args := []string{"--smtp", m.smtpAddr, "--listen", strings.TrimPrefix(m.api, "http://"), "--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--max", "0", "--disable-version-check", "--quiet"}
	if dedupe {
		args = append(args, "--ignore-duplicate-ids")
	}
	c := startChildProc(t, bin, logPath, childEnv(""), args...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := quickClient.Get(m.api + "/api/v1/messages?limit=1")
		if err == nil {
			resp.Body.Close()
			if conn, err := net.DialTimeout("tcp", m.smtpAddr, time.Second); err == nil && resp.StatusCode == http.StatusOK {
				conn.Close()
				break
			}
		}
		if c.exited() || time.Now().After(deadline) {
			t.Fatalf("Mailpit did not start (%s):\n%s", c.state(), logTail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m
}

// findMailpit finds the Mailpit binary: PAIDUP_TEST_MAILPIT, mailpit on
// PATH, or one built into the user's cache directory (built now if
// missing). It skips the test if there is none, unless
// PAIDUP_TEST_REQUIRE_MAILPIT=1.
func findMailpit(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("PAIDUP_TEST_REQUIRE_MAILPIT") == "1" {
			t.Fatalf("PAIDUP_TEST_REQUIRE_MAILPIT=1 but %s", msg)
		}
		t.Skipf("crash matrix skipped: %s; set PAIDUP_TEST_MAILPIT to a Mailpit binary, put mailpit on PATH, or let the test build it (GOBIN=DIR go install github.com/axllent/mailpit@%s)", msg, mailpitVersion)
	}
	if p := os.Getenv("PAIDUP_TEST_MAILPIT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			missing("PAIDUP_TEST_MAILPIT=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		missing("Mailpit is not on PATH and there is no cache directory to build it in: %v", err)
	}
	dir := filepath.Join(cache, "paidup-test", "mailpit-"+mailpitVersion)
	bin := filepath.Join(dir, "mailpit")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	// Build into a directory of our own, then move the binary into place,
	// so that a build interrupted or racing another leaves no half binary.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		missing("Mailpit could not be built: %v", err)
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		missing("Mailpit could not be built: %v", err)
	}
	defer os.RemoveAll(tmp)
	t.Logf("building Mailpit %s into %s (once; about 30 s)", mailpitVersion, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/axllent/mailpit@"+mailpitVersion)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		missing("building Mailpit failed: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "mailpit"), bin); err != nil && !errors.Is(err, os.ErrExist) {
		missing("Mailpit could not be built: %v", err)
	}
	return bin
}
