package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/stripespec"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

const testKey = "sk_test_paidup"

// clock is a business clock a test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// receiver is a webhook endpoint that records what it receives and answers
// with the statuses it is told to, in turn (200 when none are left).
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []delivery
	notify   chan struct{}
	srv      *httptest.Server
}

type delivery struct {
	Body      []byte
	Signature string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{notify: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		if status < 300 {
			r.got = append(r.got, delivery{Body: body, Signature: req.Header.Get("Stripe-Signature")})
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		r.notify <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) failNext(statuses ...int) {
	r.mu.Lock()
	r.statuses = append(r.statuses, statuses...)
	r.mu.Unlock()
}

// types returns the event types received so far, in order.
func (r *receiver) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.got {
		var ev struct{ Type string }
		json.Unmarshal(d.Body, &ev)
		out = append(out, ev.Type)
	}
	return out
}

// waitFor waits until cond holds for what the receiver got.
func (r *receiver) waitFor(t *testing.T, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := r.types(); cond(got) {
			return got
		}
		select {
		case <-r.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %v", what, r.types())
		}
	}
}

const webhookSecret = "whsec_test_sandbox"

type bundle struct {
	sb      *sandbox.Sandbox
	srv     *httptest.Server
	client  *stripe.Client
	backend stripe.Backend
	hooks   *receiver
	clock   *clock
	db      *sqldb.DB
	opts    sandbox.Options
	stop    func()
}

type setupOpts struct {
	faults []sandbox.Fault
	retry  []time.Duration
}

// setup starts a sandbox on a fresh database of engine, with a webhook
// receiver, a stripe-go client pointed at it, and every API response
// checked against Stripe's OpenAPI spec.
func setup(t *testing.T, engine sqldb.Engine, o setupOpts) *bundle {
	t.Helper()
	db := sqldbtest.Open(t, engine)
	b := &bundle{db: db, hooks: newReceiver(t), clock: &clock{now: time.Now().Truncate(time.Second)}}
	if o.retry == nil {
		o.retry = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b.opts = sandbox.Options{
		DB:            db,
		BaseURL:       "http://" + l.Addr().String(),
		Business:      "Test Community",
		Prices:        []sandbox.SeedPrice{{ID: "price_pro_annual", ProductName: "Pro, one year", Amount: 24900, Currency: "usd"}},
		Endpoints:     []sandbox.EndpointConfig{{URL: b.hooks.srv.URL + "/webhooks/stripe", Secret: webhookSecret}},
		RetrySchedule: o.retry,
		Faults:        o.faults,
		Now:           b.clock.Now,
	}
	b.start(t, l)
	return b
}

// start opens the sandbox and serves it on l (a new port when l is nil).
func (b *bundle) start(t *testing.T, l net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sb, err := sandbox.New(ctx, b.opts)
	require.NoError(t, err)
	b.sb = sb
	done := make(chan struct{})
	go func() { sb.Run(ctx); close(done) }()
	if l == nil {
		var err error
		l, err = net.Listen("tcp", strings.TrimPrefix(b.opts.BaseURL, "http://"))
		require.NoError(t, err)
	}
	b.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: specChecked(t, sb.Handler())}}
	b.srv.Start()
	stop := func() { b.srv.Close(); cancel(); <-done }
	t.Cleanup(func() {
		if b.srv != nil {
			stop()
		}
	})
	b.stop = stop
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(b.opts.BaseURL),
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	b.backend = backends.API
	b.client = stripe.NewClient(testKey, stripe.WithBackends(backends))
}

// specChecked checks every Stripe API response against Stripe's OpenAPI
// spec, so that the sandbox's JSON stays faithful.
func specChecked(t *testing.T, h http.Handler) http.Handler {
	v := stripespec.Must(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var err error
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/test_helpers/checkout/") && rec.Code == http.StatusOK:
			err = v.Object(rec.Body.Bytes()) // the sandbox's own helper returns a session
		case strings.HasPrefix(r.URL.Path, "/v1/test_helpers/checkout/"):
			err = v.Error(rec.Body.Bytes())
		case strings.HasPrefix(r.URL.Path, "/v1/") && rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "Unrecognized request URL"):
			err = v.Error(rec.Body.Bytes())
		case strings.HasPrefix(r.URL.Path, "/v1/"):
			err = v.Response(r.Method, r.URL.Path, rec.Code, rec.Body.Bytes())
		}
		if err != nil {
			t.Errorf("%v\nbody: %s", err, rec.Body.String())
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// get makes a raw API request and returns the status and body.
func (b *bundle) get(t *testing.T, pathAndQuery string) (int, []byte) {
	t.Helper()
	return b.do(t, http.MethodGet, pathAndQuery, "", nil)
}

// do makes a raw request with the test key unless headers say otherwise.
func (b *bundle) do(t *testing.T, method, pathAndQuery, body string, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.opts.BaseURL+pathAndQuery, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, data
}
