package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"
)

// The console scenario: support's console while paidup takes purchases.
// Before the clock runs, customers buy (the customers the operator looks
// at) and people who are not customers write in through the help form
// (the cases in the inbox), and an operator is added with `paidup
// operator add`. Then customers buy at the purchase rate, open loop, as
// in the purchase scenario, while the operator signs in (password, then
// the authenticator's code, computed here; again at each new code) and
// opens the inbox, a customer's page and a search, each at its own
// constant rate, open loop: each page's time is from when it was due to
// its last byte, and of that how late the harness sent it and how long
// paidup's handler took (from paidup's log).

type consoleOptions struct {
	rate      float64
	customers int
	cases     int
}

func (c *consoleOptions) flags(fs *flag.FlagSet) {
	fs.Float64Var(&c.rate, "console-rate", 3, "console: requests per second of each page (the inbox, a customer's page, a search), while buying at -purchase-rate for -purchase-duration")
	fs.IntVar(&c.customers, "console-customers", 200, "console: customers who bought before the run, whose pages and searches are requested")
	fs.IntVar(&c.cases, "console-cases", 30, "console: help requests from unknown addresses before the run, each an open case in the inbox")
}

// consoleTarget is what 200 purchases a second leave the console's pages.
const consoleTarget = 200 * time.Millisecond

func (o *options) console(ctx context.Context, engine string) error {
	w, p, done, err := o.env(ctx, "console", engine, worldOptions{})
	if err != nil {
		return err
	}
	defer done()
	dir := filepath.Dir(p.logPath)
	op, err := addOperator(ctx, o.bin, dir)
	if err != nil {
		return err
	}
	known, err := seedConsole(ctx, w, p, o.co)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "before the run: %d customers bought, %d help requests from unknown addresses opened cases; operator added with paidup operator add\n",
		len(known), o.co.cases)
	fmt.Fprintf(o.out, "the operator: the inbox, a customer's page and a search, each %.1f/s, open loop, while customers buy at %.0f/s for %s\n",
		o.co.rate, o.buyRate, o.buyDuration)

	var cr *consoleResult
	var cerr error
	operated := make(chan struct{})
	go func() {
		defer close(operated)
		cr, cerr = runConsole(ctx, p, op, known, o.co.rate, o.buyDuration)
	}()
	r, err := runPipeline(ctx, w, p, o.buyRate, o.buyDuration, o.buyWait, "buyer", dir)
	<-operated
	if err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	r.check = o.check(p)
	o.printPipeline(r)
	fmt.Fprintf(o.out, "the console, from when each request was due to its last byte:\n")
	ok := true
	for _, pg := range cr.pages {
		l := summarise(pg.lat)
		fmt.Fprintf(o.out, "  %-28s %s; %d failed %s\n", pg.name, l, pg.failed, pg.firstErr)
		fmt.Fprintf(o.out, "  %-28s %s\n", "  of which sent late by", summarise(pg.late))
		fmt.Fprintf(o.out, "  %-28s %s\n", "  in paidup's handler", summarise(pg.handled))
		ok = ok && pg.failed == 0
		o.summary.add("console", engine, fmt.Sprintf("%s p99 at %.0f purchases/s", pg.name, o.buyRate), ms(l.p99), "<= "+ms(consoleTarget),
			verdict(l.p99 <= consoleTarget && pg.failed == 0 && l.n > 0))
	}
	fmt.Fprintf(o.out, "  %-28s %s\n", "sign-in: the password", summarise(cr.password))
	fmt.Fprintf(o.out, "  %-28s %s\n", "sign-in: the code", summarise(cr.code))
	fmt.Fprintf(o.out, "CPU while the operator worked (cores): %s\n", cr.cpu)
	o.summary.add("console", engine, "CPU while operating: paidup, harness (, PostgreSQL)", cr.cpu, "", "")
	o.summary.add("console", engine, "purchases: payment->email p99; paid/s", fmt.Sprintf("%s; %.1f/s", ms(r.email.p99), r.paidRate), "",
		verdict(ok && r.failed == 0 && r.missingEmail == 0 && r.duplicates == 0))
	return nil
}

// operatorLogin is what `paidup operator add` printed: what the operator
// signs in with.
type operatorLogin struct {
	email, password, secret string
}

var (
	passwordLine = regexp.MustCompile(`(?m)^Password:\s+(\S+)$`)
	secretLine   = regexp.MustCompile(`(?m)^TOTP secret:\s+(\S+)$`)
)

// addOperator adds an operator with paidup's own command, as whoever
// runs paidup does.
func addOperator(ctx context.Context, bin, dir string) (operatorLogin, error) {
	op := operatorLogin{email: "support@example.com"}
	cmd := exec.CommandContext(ctx, bin, "operator", "add", op.email, "--config", filepath.Join(dir, "paidup.yaml"))
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return op, fmt.Errorf("paidup operator add: %w: %s", err, out)
	}
	pw, secret := passwordLine.FindSubmatch(out), secretLine.FindSubmatch(out)
	if pw == nil || secret == nil {
		return op, fmt.Errorf("paidup operator add printed no password or TOTP secret: %s", out)
	}
	op.password, op.secret = string(pw[1]), string(secret[1])
	return op, nil
}

// knownCustomer is a customer the operator looks at.
type knownCustomer struct{ id, email string }

// seedConsole has customers buy, and unknown addresses write in for
// help, and waits until each has had its email: the confirmations, and
// the acknowledgements of the cases opened.
func seedConsole(ctx context.Context, w *world, p *paidupProc, co consoleOptions) ([]knownCustomer, error) {
	b := &buyer{w: w, shop: p.shopURL, prefix: "known"}
	if _, failed, firstErr := closedLoop(ctx, co.customers, 16, func(int) error { return b.buy(ctx, time.Now()).err }); failed > 0 {
		return nil, fmt.Errorf("%d of the customers before the run failed to buy: %s", failed, firstErr)
	}
	if _, failed, firstErr := closedLoop(ctx, co.cases, 4, func(i int) error {
		return askForHelp(ctx, p.shopURL, fmt.Sprintf("stranger-%d@example.test", i))
	}); failed > 0 {
		return nil, fmt.Errorf("%d of the help requests failed: %s", failed, firstErr)
	}
	if d, err := waitMail(ctx, w, co.customers+co.cases, time.Minute); err != nil {
		return nil, err
	} else if d.recipients < co.customers+co.cases {
		return nil, fmt.Errorf("before the run, %d of %d emails arrived", d.recipients, co.customers+co.cases)
	}
	rows, err := p.db.Read.QueryContext(ctx, `SELECT id, email FROM customers WHERE email LIKE 'known-%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var known []knownCustomer
	for rows.Next() {
		var c knownCustomer
		if err := rows.Scan(&c.id, &c.email); err != nil {
			return nil, err
		}
		known = append(known, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("no customers before the run")
	}
	return known, nil
}

// askForHelp sends the help form as someone charged without access does.
func askForHelp(ctx context.Context, shopURL, email string) error {
	form := url.Values{"email": {email}, "amount": {"249.00"}, "date": {"today"}, "message": {"I was charged and have nothing."}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, shopURL+"/help", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	n := customers.Add(1)
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n)))
	resp, err := customerClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("help form: %s", resp.Status)
	}
	return nil
}

// consolePage is one of the console's pages, as the operator requested it.
type consolePage struct {
	name string
	path func() string
	// route is whether paidup logged a request path as this page's.
	route    func(path string) bool
	lat      []time.Duration
	late     []time.Duration // how late the harness sent each
	handled  []time.Duration // in paidup's handler, as its log says
	failed   int
	firstErr string
}

type consoleResult struct {
	pages          []*consolePage
	password, code []time.Duration
	cpu            string
}

// operatorAddr is the operator's own address, behind the trusted proxy.
const operatorAddr = "10.255.0.1"

// runConsole signs the operator in and requests each page at rate for d,
// signing in again at each new authenticator code.
func runConsole(ctx context.Context, p *paidupProc, op operatorLogin, known []knownCustomer, rate float64, d time.Duration) (*consoleResult, error) {
	res := &consoleResult{}
	var mu sync.Mutex // the session cookie, and the requests made
	cookie, err := signIn(ctx, p.shopURL, op, res)
	if err != nil {
		return nil, err
	}
	pick := func() knownCustomer { return known[rand.N(len(known))] }
	res.pages = []*consolePage{
		{name: "the inbox", path: func() string { return "/console/" }, route: func(p string) bool { return p == "/console/" }},
		{name: "a customer's page", path: func() string { return "/console/customers/" + pick().id },
			route: func(p string) bool { return strings.HasPrefix(p, "/console/customers/") }},
		{name: "a search (an email or a part)", route: func(p string) bool { return p == "/console/search" }, path: func() string {
			q := pick().email
			if rand.N(2) == 0 {
				q, _, _ = strings.Cut(q, "@") // known-12: known-12, known-120, …
			}
			return "/console/search?q=" + url.QueryEscape(q)
		}},
	}
	meter, start := startCPU(p.cmd.Process.Pid), time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	var requests []consoleRequest
	for _, pg := range res.pages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openLoop(ctx, rate, d, func(due time.Time) {
				mu.Lock()
				c := cookie
				mu.Unlock()
				r := consoleRequest{page: pg, path: pg.path(), due: due, sent: time.Now()}
				r.err = getPage(ctx, p.shopURL+r.path, c)
				r.done = time.Now()
				mu.Lock()
				requests = append(requests, r)
				mu.Unlock()
			})
		}()
	}
	// A code is taken once: each sign-in after the first waits for the
	// authenticator's next one.
	wg.Add(1)
	var signInErr error
	go func() {
		defer wg.Done()
		for {
			next := time.Now().Truncate(30 * time.Second).Add(30*time.Second + time.Second)
			if next.After(end) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			c, err := signIn(ctx, p.shopURL, op, res)
			mu.Lock()
			if err != nil {
				signInErr = err
			} else {
				cookie = c
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	wg.Wait()
	res.cpu = meter.String()
	if signInErr != nil {
		return nil, signInErr
	}
	// Every request's times, for plotting against paidup's log:
	// console.csv beside it.
	var csv strings.Builder
	csv.WriteString("page,path,due_unix_us,sent_unix_us,done_unix_us,error\n")
	for _, r := range requests {
		pg := r.page
		errText := ""
		if r.err != nil {
			pg.failed++
			if pg.firstErr == "" {
				pg.firstErr = r.err.Error()
			}
			errText = strings.ReplaceAll(r.err.Error(), ",", ";")
		} else {
			pg.lat, pg.late = append(pg.lat, r.done.Sub(r.due)), append(pg.late, r.sent.Sub(r.due))
		}
		fmt.Fprintf(&csv, "%s,%s,%d,%d,%d,%s\n", pg.name, r.path, r.due.UnixMicro(), r.sent.UnixMicro(), r.done.UnixMicro(), errText)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(p.logPath), "console.csv"), []byte(csv.String()), 0o644); err != nil {
		return nil, err
	}
	return res, readHandled(p.logPath, start, res.pages)
}

// consoleRequest is one request of a console page: when it was due, sent
// and done.
type consoleRequest struct {
	page            *consolePage
	path            string
	due, sent, done time.Time
	err             error
}

// readHandled reads from paidup's log how long its handler took for each
// console request since start, by page.
func readHandled(logPath string, start time.Time, pages []*consolePage) error {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var l struct {
			Time      time.Time `json:"time"`
			Component string    `json:"component"`
			Path      string    `json:"path"`
			Duration  float64   `json:"duration_ms"`
		}
		if json.Unmarshal(line, &l) != nil || l.Component != "console" || l.Time.Before(start) {
			continue
		}
		for _, pg := range pages {
			if pg.route(l.Path) {
				pg.handled = append(pg.handled, time.Duration(l.Duration*float64(time.Millisecond)))
			}
		}
	}
	return nil
}

var pendingField = regexp.MustCompile(`name="pending" value="([^"]+)"`)

// signIn signs the operator in, timing each step, and returns the session
// cookie. The cookie is sent back by hand: it is a __Host- cookie, which
// a client keeps for https only.
func signIn(ctx context.Context, shopURL string, op operatorLogin, res *consoleResult) (*http.Cookie, error) {
	start := time.Now()
	resp, body, err := postForm(ctx, shopURL+"/console/sign-in", url.Values{"email": {op.email}, "password": {op.password}})
	if err != nil {
		return nil, err
	}
	password := time.Since(start)
	m := pendingField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		return nil, fmt.Errorf("sign-in: the password step answered %s without the code's form", resp.Status)
	}
	code, err := totp.GenerateCode(op.secret, time.Now())
	if err != nil {
		return nil, err
	}
	start = time.Now()
	resp, _, err = postForm(ctx, shopURL+"/console/sign-in/code", url.Values{"pending": {m[1]}, "code": {code}})
	if err != nil {
		return nil, err
	}
	coded := time.Since(start)
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-paidup_console" && c.Value != "" && resp.StatusCode == http.StatusSeeOther {
			res.password, res.code = append(res.password, password), append(res.code, coded)
			return c, nil
		}
	}
	return nil, fmt.Errorf("sign-in: the code step answered %s without a session", resp.Status)
}

func postForm(ctx context.Context, target string, form url.Values) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", operatorAddr)
	resp, err := customerClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// getPage requests a console page as the signed-in operator and reads it
// whole. A search with one hit answers by sending the operator on to the
// customer's page, as its answer.
func getPage(ctx context.Context, target string, session *http.Cookie) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	req.Header.Set("X-Forwarded-For", operatorAddr)
	resp, err := customerClient.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/console/customers/"):
		return nil
	}
	return fmt.Errorf("%s: %s (to %s)", target, resp.Status, resp.Header.Get("Location"))
}
