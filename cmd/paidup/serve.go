package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
)

// sandboxKey is the API key paidup uses with its in-process sandbox, which
// accepts any test key.
const sandboxKey = "sk_test_paidup_sandbox"

// commonFlags are the flags every command that reads the configuration takes.
type commonFlags struct {
	config, listen, sandboxListen, databaseURL, sandboxDatabaseURL, smtpURL, logLevel, logFormat string
}

// register adds the common flags named to fs, or all of them if none
// are named: a command lists only the flags it reads. The environment
// sets the others still, since a command checks the whole configuration
// (a stripe configuration needs an SMTP URL even for paidup check).
func (f *commonFlags) register(fs *flag.FlagSet, getenv func(string) string, names ...string) {
	for _, c := range []struct {
		name, env, def, usage string
		v                     *string
	}{
		{"config", "PAIDUP_CONFIG", "", "configuration `file` (default: ./paidup.yaml if it exists, else the built-in example)", &f.config},
		{"listen", "PAIDUP_LISTEN", "", "`address` to serve paidup on (default 127.0.0.1:8080)", &f.listen},
		{"sandbox-listen", "PAIDUP_SANDBOX_LISTEN", "", "`address` to serve the sandbox processor on (default 127.0.0.1:8081)", &f.sandboxListen},
		{"database-url", "PAIDUP_DATABASE_URL", "", "database `URL`: sqlite:PATH or postgres://… (default sqlite:paidup.db)", &f.databaseURL},
		{"sandbox-database-url", "PAIDUP_SANDBOX_DATABASE_URL", "", "database `URL` of the sandbox processor's records (default sqlite:paidup-sandbox.db)", &f.sandboxDatabaseURL},
		{"smtp-url", "PAIDUP_SMTP_URL", "", "mail server `URL`: smtp://USER:PASS@HOST:PORT or smtps://… (default: smtp.url; in sandbox mode, the local mailbox)", &f.smtpURL},
		{"log-level", "PAIDUP_LOG_LEVEL", "info", "log `level`: debug, info, warn or error", &f.logLevel},
		{"log-format", "PAIDUP_LOG_FORMAT", "auto", "log `format`: json, text, or auto (text on a terminal, else json)", &f.logFormat},
	} {
		value := or(getenv(c.env), c.def)
		if len(names) > 0 && !slices.Contains(names, c.name) {
			*c.v = value
			continue
		}
		fs.StringVar(c.v, c.name, value, c.usage+" ["+c.env+"]")
	}
}

func (f *commonFlags) load(stdout io.Writer) (*config.Config, error) {
	path := f.config
	if path == "" {
		if _, err := os.Stat("paidup.yaml"); err == nil {
			path = "paidup.yaml"
		}
	}
	return config.Load(path, config.Overrides{
		Listen: f.listen, SandboxListen: f.sandboxListen, DatabaseURL: f.databaseURL, SandboxDatabaseURL: f.sandboxDatabaseURL,
		SMTPURL: f.smtpURL,
	})
}

func (f *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", f.logLevel)}
	}
	switch f.logFormat {
	case "json":
	case "text":
		return obs.NewTextLogger(w, level), nil
	case "auto", "":
		if obs.Terminal(w) {
			return obs.NewTextLogger(w, level), nil
		}
	default:
		return nil, usageError{fmt.Sprintf("--log-format %q: want json, text or auto", f.logFormat)}
	}
	return obs.NewLogger(w, level), nil
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// gcPercent is the garbage collector's target when GOGC is not set: the
// heap may grow to five times what is live before a collection, instead
// of Go's default of twice. paidup's live heap is small (tens of MB), and
// fewer collections cost less CPU and hold acknowledgements up less often.
const gcPercent = 400

// tuneGC sets the collector's target to gcPercent unless the operator set
// GOGC (which the runtime has already applied). GOMEMLIMIT, if set, still
// bounds the heap.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := f.load(stdout)
	if err != nil {
		return err
	}
	// The log waits for the banner, so that a terminal shows the banner
	// first and whole.
	held := &heldWriter{w: stderr}
	defer held.release()
	log, err := f.logger(held)
	if err != nil {
		return err
	}
	points, err := failpoint.Enabled(getenv)
	if err != nil {
		return usageError{err.Error()}
	}
	failpoint.Arm(points)
	tuneGC(getenv)
	if path := getenv("PAIDUP_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}

	// Bind first, so that a busy port is reported before anything is
	// written, and so that port 0 resolves to the real address.
	ln, err := listen(cfg.Server.Listen, "--listen")
	if err != nil {
		return err
	}
	defer ln.Close()
	publicURL := or(cfg.Server.PublicURL, "http://"+ln.Addr().String())

	a, err := newApp(ctx, cfg, log, ln, publicURL)
	if err != nil {
		return err
	}
	if err := a.start(); err != nil {
		a.stop()
		return err
	}
	srv := newHTTPServer(a.handler, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	printWelcome(stdout, cfg, publicURL, a.sandboxURL, a.mailboxURL, a.inboundURL)
	held.release()
	log.Info("paidup started", "version", version(), "config", cfg.Source, "listen", ln.Addr().String(),
		"database", a.db.Location, "processor", cfg.Processor.Kind)

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		serveErr = fmt.Errorf("serving HTTP: %w", err)
	}
	log.Info("paidup stopping")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP shutdown", "err", err)
	}
	a.stop()
	return serveErr
}

// startCPUProfile profiles paidup's CPU into the file at path until stop
// is called, for load tests (PAIDUP_CPUPROFILE; paidup-load sets it).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("PAIDUP_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("PAIDUP_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// sandboxOptions configures a sandbox from the configuration: its prices
// come from the plans.
func sandboxOptions(cfg *config.Config, db *sqldb.DB, baseURL string, log *slog.Logger, endpoints []sandbox.EndpointConfig) sandbox.Options {
	opts := sandbox.Options{
		DB: db, BaseURL: baseURL, Business: cfg.Business.Name, Endpoints: endpoints,
		Logger: log.With("component", "sandbox"),
	}
	for _, p := range cfg.Policy.Plans {
		interval := ""
		if p.Interval.Recurring() {
			interval = string(p.Interval)
		}
		opts.Prices = append(opts.Prices, sandbox.SeedPrice{
			ID: p.PriceID, ProductName: p.Name, Description: p.Description,
			Amount: p.Amount.Amount, Currency: p.Amount.Currency, Interval: interval,
		})
	}
	for _, d := range cfg.Sandbox.RetrySchedule {
		opts.RetrySchedule = append(opts.RetrySchedule, d.D())
	}
	opts.Faults = []sandbox.Fault{}
	for _, f := range cfg.Sandbox.Faults {
		opts.Faults = append(opts.Faults, sandbox.Fault{Action: f.Action, Event: f.Event, Count: f.Count, Delay: sandbox.Duration(f.Delay)})
	}
	return opts
}

func openDatabase(ctx context.Context, url string) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	err = db.WithMigrationLock(ctx, func() error {
		if _, err := db.Migrate(ctx, store.Migrations); err != nil {
			return err
		}
		_, err := queue.Migrate(ctx, db)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSandboxDatabase(ctx context.Context, url string) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("sandbox database: %w", err)
	}
	return db, nil
}

func listen(addr, flagName string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is already in use; choose another address with %s", addr, flagName)
		}
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func randomSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "whsec_" + hex.EncodeToString(b)
}

func printWelcome(w io.Writer, cfg *config.Config, publicURL, sandboxURL, mailboxURL, inboundURL string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\npaidup %s is running (%s).\n\n", version(), cfg.Source)
	fmt.Fprintf(&b, "  Shop:             %s/\n", publicURL)
	if sandboxURL != "" {
		fmt.Fprintf(&b, "  Sandbox console:  %s/   (payments, events, webhook deliveries)\n", sandboxURL)
	}
	if mailboxURL != "" {
		fmt.Fprintf(&b, "  Mailbox:          %s   (the emails paidup sends)\n", mailboxURL)
	}
	if inboundURL != "" {
		fmt.Fprintf(&b, "  Inbound mail:     %s   (the customers' answers to reply+…@%s)\n", inboundURL, cfg.Support.InboundDomain)
	}
	fmt.Fprintf(&b, "  Your account:     %s/account\n", publicURL)
	fmt.Fprintf(&b, "  Health:           %s/healthz\n", publicURL)
	fmt.Fprintf(&b, "  Metrics:          %s/metrics\n", publicURL)
	if sandboxURL != "" {
		fmt.Fprintf(&b, "\nThis is the sandbox: no real money moves. Pay with the test card\n4242 4242 4242 4242 (any future expiry, any CVC); 4000 0000 0000 0002 is declined;\n"+
			"4000 0000 0000 0341 is saved but later renewals on it fail; 4000 0000 0000 0259\nleads to a chargeback. Move time on with the console's clock buttons.\n")
	}
	fmt.Fprintf(&b, "\nStop with Ctrl-C.\n")
	io.WriteString(w, b.String())
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// heldWriter keeps what is written to it until release, then writes it
// and everything after straight through to w.
type heldWriter struct {
	mu       sync.Mutex
	w        io.Writer
	held     []byte
	released bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return h.w.Write(p)
	}
	h.held = append(h.held, p...)
	return len(p), nil
}

// release writes what was held; it may be called more than once.
func (h *heldWriter) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.released {
		h.released = true
		h.w.Write(h.held)
		h.held = nil
	}
}
