package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
)

// The processor's key and webhook secret in every environment.
const (
	sandboxKey    = "sk_test_paidup_load"
	webhookSecret = "whsec_paidupload0123456789abcdef0123456789abcdef"
)

// plan is what the load buys: a one-time plan, as the shipped example sells.
var plan = struct{ id, price string }{"pro-annual", "price_pro_annual"}

// world is the outside world paidup (or the reference design) talks to,
// run in the harness process: the sandbox processor, as Stripe, and the
// local mailbox, as the SMTP provider. The sandbox keeps its state in
// memory, the mailbox in a SQLite database not synced to disk (see
// openStandIn).
type world struct {
	dir        string
	sb         *sandbox.Sandbox
	sandboxURL string
	mbDB       *sqldb.DB
	smtpURL    string
	stop       []func()

	// What the measured program asked of the world: processor API
	// requests (made with Stripe's client, so not the harness's own),
	// connections to the processor, and connections to the mail server.
	apiRequests, apiConns, smtpConns atomic.Int64
}

// worldOptions shape the outside world.
type worldOptions struct {
	// webhookURL is the endpoint the sandbox delivers to; "" for none.
	webhookURL string
	// allEvents subscribes the endpoint to every event type instead of
	// the ones paidup acts on.
	allEvents bool
	faults    []sandbox.Fault
	// apiDelay is added to every processor API request, for the
	// network round trip to a real processor.
	apiDelay time.Duration
	// deliveries is how many webhook deliveries the processor has under
	// way at once.
	deliveries int
	// smtpDelay is added to every connection to the mail server, for a
	// real provider's round trips (TLS, sign-in).
	smtpDelay time.Duration
}

// openStandIn opens the SQLite database of a stand-in for the outside
// world (the mail server) without syncing its commits to disk: in
// production its durability is the mail provider's, on machines of its
// own, and a sync per change would make the stand-ins, shared by every
// design measured, the bottleneck. (The sandbox keeps its state in memory
// for the same reason.)
func openStandIn(ctx context.Context, path string) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, "sqlite:"+path)
	if err != nil {
		return nil, err
	}
	// The writer is one connection, kept open for the database's life.
	if _, err := db.Write.ExecContext(ctx, "PRAGMA synchronous=OFF"); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func startWorld(ctx context.Context, dir string, o worldOptions) (*world, error) {
	w := &world{dir: dir}
	ok := false
	defer func() {
		if !ok {
			w.close()
		}
	}()
	log := fileLogger(filepath.Join(dir, "sandbox.log"), slog.LevelWarn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.sandboxURL = "http://" + ln.Addr().String()
	opts := sandbox.Options{
		BaseURL: w.sandboxURL, Business: "Load Test Community", Logger: log,
		Prices: []sandbox.SeedPrice{
			{ID: "price_supporter_lifetime", ProductName: "Supporter, lifetime", Amount: 4900, Currency: "usd"},
			{ID: "price_pro_annual", ProductName: "Pro, one year", Amount: 24900, Currency: "usd"},
		},
		Faults:              o.faults,
		DeliveryConcurrency: o.deliveries,
	}
	if opts.Faults == nil {
		opts.Faults = []sandbox.Fault{}
	}
	if o.webhookURL != "" {
		ep := sandbox.EndpointConfig{URL: o.webhookURL, Secret: webhookSecret, Events: events.Types}
		if o.allEvents {
			ep.Events = nil
		}
		opts.Endpoints = []sandbox.EndpointConfig{ep}
	}
	if w.sb, err = sandbox.New(ctx, opts); err != nil {
		ln.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { w.sb.Run(runCtx); close(done) }()
	var h http.Handler = w.sb.Handler()
	if o.apiDelay > 0 {
		h = delayed(h, o.apiDelay)
	}
	h = w.countRequests(h)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			w.apiConns.Add(1)
		}
	}}
	go srv.Serve(ln)
	w.stop = append(w.stop, func() {
		cancel()
		<-done
		ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		c()
	})

	if w.mbDB, err = openStandIn(ctx, filepath.Join(dir, "mailbox.db")); err != nil {
		return nil, err
	}
	w.stop = append(w.stop, func() { w.mbDB.Close() })
	mb, err := mailbox.Open(ctx, w.mbDB, log)
	if err != nil {
		return nil, err
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.smtpURL = "smtp://" + mln.Addr().String()
	go mb.Serve(countingListener{mln, &w.smtpConns})
	w.stop = append(w.stop, func() { mb.Close() })
	if o.smtpDelay > 0 {
		pln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go delayProxy(pln, mln.Addr().String(), o.smtpDelay)
		w.stop = append(w.stop, func() { pln.Close() })
		w.smtpURL = "smtp://" + pln.Addr().String()
	}
	ok = true
	return w, nil
}

// delayProxy forwards connections to target, each after a delay.
func delayProxy(ln net.Listener, target string, d time.Duration) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			time.Sleep(d)
			t, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer t.Close()
			go func() { io.Copy(t, c); t.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, t)
		}()
	}
}

// countRequests counts the processor API requests made with Stripe's
// client library.
func (w *world) countRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && strings.HasPrefix(r.UserAgent(), "Stripe/") {
			w.apiRequests.Add(1)
		}
		h.ServeHTTP(rw, r)
	})
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// tally is what the world and the database were asked for since it
// started, to be divided by the purchases made meanwhile.
type tally struct {
	w                                *world
	p                                *paidupProc
	apiRequests, apiConns, smtpConns int64
	commits                          int64 // PostgreSQL transactions committed; -1 on SQLite
}

func (w *world) startTally(ctx context.Context, p *paidupProc) *tally {
	return &tally{w: w, p: p, apiRequests: w.apiRequests.Load(), apiConns: w.apiConns.Load(), smtpConns: w.smtpConns.Load(),
		commits: p.commits(ctx)}
}

// per says how much of each the purchases took, per purchase.
func (t *tally) per(ctx context.Context, purchases int) string {
	if purchases == 0 {
		return "no purchases"
	}
	f := func(now, then int64) string { return fmt.Sprintf("%.2f", float64(now-then)/float64(purchases)) }
	s := fmt.Sprintf("processor API requests %s, processor connections %s, mail server connections %s",
		f(t.w.apiRequests.Load(), t.apiRequests), f(t.w.apiConns.Load(), t.apiConns), f(t.w.smtpConns.Load(), t.smtpConns))
	if t.commits >= 0 {
		s += ", PostgreSQL commits " + f(t.p.commits(ctx), t.commits)
	}
	return s
}

// delayed adds a fixed delay to processor API requests.
func delayed(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			time.Sleep(d)
		}
		h.ServeHTTP(w, r)
	})
}

func (w *world) close() {
	for i := len(w.stop) - 1; i >= 0; i-- {
		w.stop[i]()
	}
	w.stop = nil
}

// pay pays a checkout session with the test card, as the customer does on
// the hosted page.
func (w *world) pay(ctx context.Context, sessionID string) error {
	_, err := w.call(ctx, http.MethodPost, "/v1/test_helpers/checkout/sessions/"+sessionID+"/pay", url.Values{"payment_method": {"pm_card_visa"}})
	return err
}

var apiClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}}

// call makes a processor API request and returns the JSON answer.
func (w *world) call(ctx context.Context, method, path string, form url.Values) (map[string]any, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, w.sandboxURL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+sandboxKey)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	var out map[string]any
	return out, json.Unmarshal(data, &out)
}

// mail is the messages the mailbox received: when each recipient's first
// message arrived, and how many distinct messages each got.
func (w *world) mail(ctx context.Context) (first map[string]time.Time, count map[string]int, err error) {
	rows, err := w.mbDB.Read.QueryContext(ctx, `SELECT rcpt_to, received_at FROM mailbox_messages`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	first, count = map[string]time.Time{}, map[string]int{}
	for rows.Next() {
		var to string
		var at time.Time
		if err := rows.Scan(&to, &at); err != nil {
			return nil, nil, err
		}
		count[to]++
		if f, ok := first[to]; !ok || at.Before(f) {
			first[to] = at
		}
	}
	return first, count, rows.Err()
}

// mailCount is how many messages the mailbox holds.
func (w *world) mailCount(ctx context.Context) (int, error) {
	var n int
	err := w.mbDB.Read.QueryRowContext(ctx, `SELECT count(*) FROM mailbox_messages`).Scan(&n)
	return n, err
}

// database is a fresh, empty database for one run: a SQLite file, or a new
// database on the PostgreSQL server, dropped afterwards.
type database struct {
	url  string
	drop func()
}

// database makes a fresh database for one run; with -keep, a PostgreSQL
// one is kept too (as the work directory keeps a SQLite file), its
// address printed when the run is done with it, for reading its plans.
func (o *options) database(ctx context.Context, engine, dir, name string) (*database, error) {
	db, err := newDatabase(ctx, engine, dir, name, o.pgAdmin)
	if err != nil || !o.keep || engine != "postgres" {
		return db, err
	}
	db.drop = func() { fmt.Fprintf(o.out, "kept the database %s\n", sqldb.Redact(db.url)) }
	return db, nil
}

func newDatabase(ctx context.Context, engine, dir, name, pgAdmin string) (*database, error) {
	if engine == "sqlite" {
		return &database{url: "sqlite:" + filepath.Join(dir, name+".db"), drop: func() {}}, nil
	}
	if pgAdmin == "" {
		return nil, errors.New("PostgreSQL runs need -postgres URL (a server with fsync on, whose user may create databases)")
	}
	admin, err := sql.Open("pgx", pgAdmin)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	var fsync string
	if err := admin.QueryRowContext(ctx, `SHOW fsync`).Scan(&fsync); err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", sqldb.Redact(pgAdmin), err)
	}
	if fsync != "on" && os.Getenv("PAIDUP_LOAD_ALLOW_NO_FSYNC") != "1" {
		return nil, fmt.Errorf("PostgreSQL at %s runs with fsync=%s: acknowledgements would not be durable; start a server with fsync on (or set PAIDUP_LOAD_ALLOW_NO_FSYNC=1)", sqldb.Redact(pgAdmin), fsync)
	}
	dbName := "paidup_load_" + name + "_" + randomHex(4)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
		return nil, err
	}
	u, _ := url.Parse(pgAdmin)
	u.Path = "/" + dbName
	return &database{url: u.String(), drop: func() {
		a, err := sql.Open("pgx", pgAdmin)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + dbName + " WITH (FORCE)")
	}}, nil
}

// paidupProc is the real paidup binary, serving on loopback against the
// world, in its own process.
type paidupProc struct {
	shopURL string
	dbURL   string
	db      *sqldb.DB // for reading results after a run
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

type paidupOptions struct {
	bin      string
	dir      string
	dbURL    string
	listen   string // 127.0.0.1:PORT
	world    *world
	logLevel string
	// cpuProfile is where paidup writes its CPU profile; "" for none.
	cpuProfile string
}

// freePort returns a loopback port nothing listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

const paidupConfig = `server:
  listen: %s
  # The harness's customers each come from an address of their own, as
  # forwarded by this trusted "proxy".
  trusted_proxies: [127.0.0.1]
database:
  url: %q
business:
  name: Load Test Community
  support_email: support@example.com
processor:
  kind: stripe
  stripe:
    secret_key: %s
    webhook_secrets: [%s]
    api_url: %q
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
smtp:
  url: %q
  from: Load Test Community <billing@example.com>
`

// startPaidup writes paidup's configuration (the shipped defaults, except
// that the processor is the world's sandbox and mail goes to its mailbox)
// and runs `paidup serve`, waiting until /healthz answers.
func startPaidup(ctx context.Context, o paidupOptions) (*paidupProc, error) {
	cfgPath := filepath.Join(o.dir, "paidup.yaml")
	cfg := fmt.Sprintf(paidupConfig, o.listen, o.dbURL, sandboxKey, webhookSecret, o.world.sandboxURL, o.world.smtpURL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p := &paidupProc{shopURL: "http://" + o.listen, dbURL: o.dbURL, exited: make(chan struct{}), logPath: filepath.Join(o.dir, "paidup.log")}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	level := o.logLevel
	if level == "" {
		level = "info"
	}
	p.cmd = exec.Command(o.bin, "serve", "--config", cfgPath, "--log-level", level)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Env = cleanEnv()
	if o.cpuProfile != "" {
		abs, err := filepath.Abs(o.cpuProfile)
		if err != nil {
			logFile.Close()
			return nil, err
		}
		p.cmd.Env = append(p.cmd.Env, "PAIDUP_CPUPROFILE="+abs)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { p.cmd.Wait(); logFile.Close(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.shopURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("paidup exited at start; see %s:\n%s", p.logPath, tail(p.logPath))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("paidup did not become healthy in a minute; see %s", p.logPath)
		}
	}
	if p.db, err = sqldb.Open(ctx, o.dbURL); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// stop ends paidup as an operator would, with SIGTERM, and waits.
func (p *paidupProc) stop() {
	if p.db != nil {
		p.db.Close()
		p.db = nil
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// procCPU reads a process's CPU time (utime and stime) from /proc.
func procCPU(pid int) time.Duration { return statTicks(pid, 11) }

// statTicks is the sum of two adjacent clock-tick fields of a process's
// /proc stat line, counted from the field after the command's name (so
// 11 is utime, 13 cutime), as a duration; 0 if the process is gone.
func statTicks(pid, field int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < field+2 {
		return 0
	}
	a, _ := strconv.ParseInt(f[field], 10, 64)
	b, _ := strconv.ParseInt(f[field+1], 10, 64)
	return time.Duration(a+b) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// commits is how many transactions paidup's PostgreSQL database has
// committed (as PostgreSQL's statistics report them, a moment late), or -1
// on SQLite.
func (p *paidupProc) commits(ctx context.Context) int64 {
	if !strings.HasPrefix(p.dbURL, "postgres") {
		return -1
	}
	var n int64
	if err := p.db.Read.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// grants returns when each customer (by email) was first granted access,
// as the granting transaction recorded it.
func (p *paidupProc) grants(ctx context.Context) (map[string]time.Time, map[string]int, error) {
	rows, err := p.db.Read.QueryContext(ctx, `SELECT c.email, g.created_at FROM grants g JOIN customers c ON c.id = g.customer_id`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	first, count := map[string]time.Time{}, map[string]int{}
	for rows.Next() {
		var email string
		var at time.Time
		if err := rows.Scan(&email, &at); err != nil {
			return nil, nil, err
		}
		count[email]++
		if f, ok := first[email]; !ok || at.Before(f) {
			first[email] = at
		}
	}
	return first, count, rows.Err()
}

// backlog counts stored events not yet processed and jobs not yet done.
func (p *paidupProc) backlog(ctx context.Context) (events, jobs int, err error) {
	if err := p.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events WHERE processed_at IS NULL`).Scan(&events); err != nil {
		return 0, 0, err
	}
	err = p.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`).Scan(&jobs)
	return events, jobs, err
}

// check runs `paidup check` on the database: every succeeded payment has
// exactly one grant or a refund, and every grant its confirmation.
func (p *paidupProc) check(bin, dir string) (string, error) {
	out, err := exec.Command(bin, "check", "--config", filepath.Join(dir, "paidup.yaml")).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAIDUP_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func fileLogger(path string, level slog.Level) *slog.Logger {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level}))
}
