package main

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/stripe"
)

// The reference design is the usual synchronous shop, as one FastAPI
// process with SQLAlchemy would run it: a purchase request charges the
// card at the processor, writes the order in one transaction and sends
// the confirmation over SMTP, all before it answers; a thread pool of a
// fixed size serves requests (FastAPI runs sync endpoints on a pool of 40
// threads by default); a periodic scan repairs paid checkouts that have no
// order. The brief's is reference_shop.py, in Python with FastAPI,
// SQLAlchemy and Stripe's library; this file is the same design in Go,
// which costs far less CPU per purchase: a harder comparison.
//
// It runs in its own process: `paidup-load reference-server FLAGS`.

var referenceSchema = []string{
	`CREATE TABLE IF NOT EXISTS ref_customers (email TEXT PRIMARY KEY, created_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS ref_orders (payment_id TEXT PRIMARY KEY, checkout_id TEXT NOT NULL, email TEXT NOT NULL REFERENCES ref_customers (email),
		plan TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, created_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS ref_access (email TEXT PRIMARY KEY REFERENCES ref_customers (email), tier TEXT NOT NULL, granted_at TIMESTAMP NOT NULL)`,
}

type referenceServer struct {
	db        *sqldb.DB
	processor *stripe.Client
	apiURL    string
	mailer    *notify.SMTP
	pool      chan struct{}
	log       *slog.Logger
	repaired  atomic.Int64
}

func runReferenceServer(args []string) error {
	fs := flag.NewFlagSet("paidup-load reference-server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	dbURL := fs.String("database-url", "", "sqlite:PATH or postgres://…")
	apiURL := fs.String("api-url", "", "processor API")
	smtpURL := fs.String("smtp-url", "", "mail server")
	workers := fs.Int("workers", 40, "request threads")
	scan := fs.Duration("scan-interval", 15*time.Second, "repair scan interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(*listen, "127.0.0.1:") {
		return fmt.Errorf("-listen: the reference server binds to 127.0.0.1 only")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := sqldb.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range referenceSchema {
		if _, err := db.Write.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if db.Engine == sqldb.Postgres {
		// SQLAlchemy's default pool: 5 connections and 10 overflow.
		db.Write.SetMaxOpenConns(15)
	}
	mailer, err := notify.NewSMTP(*smtpURL)
	if err != nil {
		return err
	}
	s := &referenceServer{
		db: db, apiURL: *apiURL, mailer: mailer, pool: make(chan struct{}, *workers),
		processor: stripe.New(stripe.Config{SecretKey: sandboxKey, URL: *apiURL, Timeout: 30 * time.Second}),
		log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /purchase", s.handlePurchase)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("listening on http://%s\n", ln.Addr())
	go s.scanLoop(ctx, *scan)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// handlePurchase is the whole purchase, synchronously, on one of the
// pool's threads.
func (s *referenceServer) handlePurchase(w http.ResponseWriter, r *http.Request) {
	s.pool <- struct{}{}
	defer func() { <-s.pool }()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	email := r.PostForm.Get("email")
	ctx := r.Context()
	co, err := s.charge(ctx, email)
	if err != nil {
		s.log.Warn("charge failed", "err", err)
		http.Error(w, "payment failed", http.StatusPaymentRequired)
		return
	}
	if err := s.fulfil(ctx, co); err != nil {
		s.log.Warn("fulfil failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"status": "paid", "payment": co.PaymentID})
}

// charge charges the customer's card at the processor: a checkout session
// for the plan, paid with the test card.
func (s *referenceServer) charge(ctx context.Context, email string) (paidup.Checkout, error) {
	co, err := s.processor.CreateCheckout(ctx, paidup.CheckoutRequest{
		Reference: paidup.NewReference(), Email: email,
		Plan:       paidup.Plan{ID: plan.id, PriceID: plan.price},
		SuccessURL: "http://127.0.0.1:1/done", CancelURL: "http://127.0.0.1:1/cancel",
	})
	if err != nil {
		return co, err
	}
	form := url.Values{"payment_method": {"pm_card_visa"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.apiURL+"/v1/test_helpers/checkout/sessions/"+co.ID+"/pay", strings.NewReader(form.Encode()))
	if err != nil {
		return co, err
	}
	req.Header.Set("Authorization", "Bearer "+sandboxKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := apiClient.Do(req)
	if err != nil {
		return co, err
	}
	defer resp.Body.Close()
	var session struct {
		PaymentStatus string `json:"payment_status"`
		PaymentIntent string `json:"payment_intent"`
		AmountTotal   int64  `json:"amount_total"`
		Currency      string `json:"currency"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&session); err != nil || resp.StatusCode != http.StatusOK {
		return co, fmt.Errorf("paying %s: %s %v", co.ID, resp.Status, err)
	}
	if session.PaymentStatus != "paid" {
		return co, fmt.Errorf("paying %s: %s", co.ID, session.PaymentStatus)
	}
	co.Paid, co.PaymentID, co.Email = true, session.PaymentIntent, email
	co.Amount = paidup.Money{Amount: session.AmountTotal, Currency: session.Currency}
	return co, nil
}

// fulfil writes the order and the customer's access in one transaction,
// then sends the confirmation. created is false when the order existed.
func (s *referenceServer) fulfil(ctx context.Context, co paidup.Checkout) error {
	created := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UTC()
		if _, err := tx.ExecContext(ctx, `INSERT INTO ref_customers (email, created_at) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING`, co.Email, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO ref_orders (payment_id, checkout_id, email, plan, amount, currency, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_id) DO NOTHING`,
			co.PaymentID, co.ID, co.Email, plan.id, co.Amount.Amount, co.Amount.Currency, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO ref_access (email, tier, granted_at) VALUES ($1, 'pro', $2)
			ON CONFLICT (email) DO UPDATE SET tier = excluded.tier, granted_at = excluded.granted_at`, co.Email, now)
		return err
	})
	if err != nil || !created {
		return err
	}
	m, err := notify.NewMessage("Load Test Community <billing@example.com>", co.Email)
	if err != nil {
		return err
	}
	m.MessageID = "order-" + co.PaymentID + "@example.com"
	m.Date = time.Now()
	m.Subject = "You're in: Pro, one year"
	m.Text = fmt.Sprintf("Thank you for your purchase of Pro, one year (%s).\n\nYour access is active now.\n", co.Amount)
	m.HTML = fmt.Sprintf("<p>Thank you for your purchase of <b>Pro, one year</b> (%s).</p><p>Your access is active now.</p>", co.Amount)
	return s.mailer.Send(ctx, m)
}

// scanLoop repairs, every interval, paid checkouts of the last ten minutes
// that have no order: a request that died after the charge.
func (s *referenceServer) scanLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.processor.ListCheckouts(ctx, paidup.Created{Since: time.Now().Add(-10 * time.Minute)}, func(co paidup.Checkout) error {
			if !co.Paid || co.PaymentID == "" {
				return nil
			}
			var n int
			if err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM ref_orders WHERE payment_id = $1`, co.PaymentID).Scan(&n); err != nil || n > 0 {
				return err
			}
			if err := s.fulfil(ctx, co); err != nil {
				return err
			}
			s.repaired.Add(1)
			return nil
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("repair scan failed", "err", err)
		}
	}
}

// referenceProc is the reference server running in its own process.
type referenceProc struct {
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// A reference design measured against paidup.
const (
	designFastAPI = "fastapi" // the brief's: Python, FastAPI and SQLAlchemy (reference_shop.py)
	designGo      = "go"      // the same design written in Go (this file)
)

//go:embed reference_shop.py
var referenceShop []byte

// python is the interpreter with Debian's packages that reference_shop.py
// needs (not one a version manager may have put first on PATH).
const python = "/usr/bin/python3"

// hasReferencePython reports whether python has what reference_shop.py
// imports.
func hasReferencePython() bool {
	return exec.Command(python, "-c", "import fastapi, sqlalchemy, uvicorn, psycopg2, stripe, multipart").Run() == nil
}

// startReference runs design's server on a free port of 127.0.0.1 with
// workers request threads; scan, if not zero, is its repair scan's interval
// in place of its 15 s.
func startReference(ctx context.Context, design, dir, dbURL string, w *world, workers int, scan time.Duration) (*referenceProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch design {
	case designGo:
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(self, "reference-server", "-listen", addr, "-database-url", dbURL, "-api-url", w.sandboxURL,
			"-smtp-url", w.smtpURL, "-workers", fmt.Sprint(workers))
	case designFastAPI:
		if !hasReferencePython() {
			return nil, fmt.Errorf("the FastAPI reference needs %s with Debian's packages: apt-get install python3-fastapi python3-sqlalchemy python3-uvicorn python3-psycopg2 python3-stripe python3-multipart", python)
		}
		script := filepath.Join(dir, "reference_shop.py")
		if err := os.WriteFile(script, referenceShop, 0o644); err != nil {
			return nil, err
		}
		cmd = exec.Command(python, script, "--listen", addr, "--database-url", dbURL, "--api-url", w.sandboxURL,
			"--smtp-url", w.smtpURL, "--secret-key", sandboxKey, "--threads", fmt.Sprint(workers))
	default:
		return nil, fmt.Errorf("no reference design %q", design)
	}
	switch {
	case scan > 0 && design == designGo:
		cmd.Args = append(cmd.Args, "-scan-interval", scan.String())
	case scan > 0:
		cmd.Args = append(cmd.Args, "--scan-interval", fmt.Sprint(scan.Seconds()))
	}
	logFile, err := os.Create(filepath.Join(dir, "reference.log"))
	if err != nil {
		return nil, err
	}
	p := &referenceProc{url: "http://" + addr, cmd: cmd, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { p.cmd.Wait(); logFile.Close(); close(p.exited) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("the reference server exited at start: %s", tail(filepath.Join(dir, "reference.log")))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("the reference server did not start")
		}
	}
	return p, nil
}

func (p *referenceProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

func (p *referenceProc) purchase(ctx context.Context, email string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/purchase", strings.NewReader(url.Values{"email": {email}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := customerClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("purchase: %s", resp.Status)
	}
	return nil
}

// throughputResult is one design's completed purchases per second.
type throughputResult struct {
	design     string
	purchases  int
	failed     int
	firstError string
	elapsed    time.Duration // from the first purchase starting to the last confirmation at the mail server
	perSecond  float64
	accepted   float64 // purchases per second the customers got through (paidup: buy and pay)
	latency    latencies
	mailed     int
	duplicates int
	cpu        string
	cpuPer     string // the measured process's CPU time per confirmation
}

// closedLoop runs n purchases with c customers, each starting the next as
// soon as its last returned.
func closedLoop(ctx context.Context, n, c int, fn func(i int) error) (lat []time.Duration, failed int, firstErr string) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > n {
					return
				}
				t := time.Now()
				err := fn(i)
				d := time.Since(t)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, failed, firstErr
}

// delivery is what the mailbox holds after a run.
type delivery struct {
	recipients int       // customers with a confirmation
	duplicates int       // confirmations beyond each customer's first
	last       time.Time // when the last customer's first confirmation arrived
}

// waitMail waits until the mailbox holds n messages, or until the wait is
// over, and tells what it holds.
func waitMail(ctx context.Context, w *world, n int, wait time.Duration) (delivery, error) {
	deadline := time.Now().Add(wait)
	for {
		got, err := w.mailCount(ctx)
		if err != nil {
			return delivery{}, err
		}
		if got >= n || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	first, count, err := w.mail(ctx)
	if err != nil {
		return delivery{}, err
	}
	d := delivery{recipients: len(first)}
	for to, at := range first {
		if at.After(d.last) {
			d.last = at
		}
		d.duplicates += count[to] - 1
	}
	return d, nil
}
