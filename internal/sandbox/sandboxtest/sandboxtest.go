// Package sandboxtest runs a sandbox processor for a test, on a loopback
// port, and acts on it as a customer or the operator would: paying a
// checkout, refunding a payment, creating a checkout paidup never asked for.
// paidup reaches it through the real Stripe adapter.
package sandboxtest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/stripe"
)

// Key is the secret key tests use with the sandbox.
const Key = "sk_test_sandboxtest"

// Server is a sandbox serving on a loopback port until the test ends.
type Server struct {
	URL     string
	Sandbox *sandbox.Sandbox
	DB      *sqldb.DB
}

// Start runs a sandbox with opts on a fresh SQLite database. opts.DB and
// opts.BaseURL are filled in.
func Start(t testing.TB, opts sandbox.Options) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sandbox listener: %v", err)
	}
	s := &Server{URL: "http://" + l.Addr().String(), DB: sqldbtest.Open(t, sqldb.SQLite)}
	opts.DB, opts.BaseURL = s.DB, s.URL
	s.Sandbox, err = sandbox.New(context.Background(), opts)
	if err != nil {
		l.Close()
		t.Fatalf("starting sandbox: %v", err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: s.Sandbox.Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

// Processor returns the Stripe adapter pointed at the sandbox, without
// retries.
func (s *Server) Processor() *stripe.Client {
	return stripe.New(stripe.Config{SecretKey: Key, URL: s.URL, Retries: -1, Timeout: 10 * time.Second})
}

// Unreachable returns the Stripe adapter pointed at a port nothing listens
// on: the processor is down.
func Unreachable(t testing.TB) *stripe.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listener: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return stripe.New(stripe.Config{SecretKey: Key, URL: "http://" + addr, Retries: -1, Timeout: 2 * time.Second})
}

// Call makes an API request and decodes the JSON answer, failing the test
// unless the status is 200.
func (s *Server) Call(t testing.TB, method, path string, form url.Values) map[string]any {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+Key)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

// Pay pays a checkout session with the test card pm_card_visa, as a
// customer on the hosted page would. extra may add email or name.
func (s *Server) Pay(t testing.TB, sessionID string, extra url.Values) {
	t.Helper()
	form := url.Values{"payment_method": {"pm_card_visa"}}
	for k, v := range extra {
		form[k] = v
	}
	s.Call(t, http.MethodPost, "/v1/test_helpers/checkout/sessions/"+sessionID+"/pay", form)
}

// CreateSession creates a checkout session directly at the processor, as a
// payment link or another tool would, and returns its id. form holds the
// session's parameters; mode and success_url default to payment mode and
// a placeholder page.
func (s *Server) CreateSession(t testing.TB, form url.Values) string {
	t.Helper()
	f := url.Values{"mode": {"payment"}, "success_url": {"http://127.0.0.1:1/done"}}
	for k, v := range form {
		f[k] = v
	}
	return s.Call(t, http.MethodPost, "/v1/checkout/sessions", f)["id"].(string)
}

// Refund refunds amount (all that is left, if 0) of a payment intent.
func (s *Server) Refund(t testing.TB, paymentIntent string, amount int64) {
	t.Helper()
	form := url.Values{"payment_intent": {paymentIntent}}
	if amount > 0 {
		form.Set("amount", strconv.FormatInt(amount, 10))
	}
	s.Call(t, http.MethodPost, "/v1/refunds", form)
}

// Expire closes an open checkout session unpaid.
func (s *Server) Expire(t testing.TB, sessionID string) {
	t.Helper()
	s.Call(t, http.MethodPost, "/v1/checkout/sessions/"+sessionID+"/expire", url.Values{})
}

// Event is an event as the processor recorded it.
type Event struct {
	ID         string
	Type       string
	Created    time.Time
	ObjectType string
	ObjectID   string
	Payload    []byte // the event as JSON, as a webhook would carry it
}

// Events lists the events of a type, oldest first.
func (s *Server) Events(t testing.TB, typ string) []Event {
	t.Helper()
	list := s.Call(t, http.MethodGet, "/v1/events?limit=100&type="+url.QueryEscape(typ), nil)
	var out []Event
	for _, raw := range list["data"].([]any) {
		m := raw.(map[string]any)
		payload, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("encoding event: %v", err)
		}
		obj := m["data"].(map[string]any)["object"].(map[string]any)
		out = append([]Event{{
			ID: m["id"].(string), Type: m["type"].(string), Created: time.Unix(int64(m["created"].(float64)), 0).UTC(),
			ObjectType: obj["object"].(string), ObjectID: obj["id"].(string), Payload: payload,
		}}, out...)
	}
	return out
}

// Clock is a business clock the test moves by hand, shared by the sandbox
// and paidup so that both agree on what time it is.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
