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
// with the replies it is told to, in turn (200 when none are left).
type receiver struct {
	mu      sync.Mutex
	replies []reply
	got     []delivery
	// hits are every request received, answered successfully or not.
	hits []hit
	// followed counts requests that followed a redirect the receiver sent.
	followed int
	notify   chan struct{}
	srv      *httptest.Server
}

// reply is how the receiver answers one request: with status, after
// stalling for stall, or until release is closed (or until the sender
// gives up).
type reply struct {
	status  int
	stall   time.Duration
	release <-chan struct{}
}

type delivery struct {
	Body      []byte
	Signature string
	At        time.Time
}

// hit is one request the receiver got.
type hit struct {
	Event, Type string
	Status      int
	// Abandoned marks a request whose sender hung up before the answer.
	Abandoned bool
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{notify: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/followed" {
			r.mu.Lock()
			r.followed++
			r.mu.Unlock()
			r.signal()
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		rep := reply{status: http.StatusOK}
		if len(r.replies) > 0 {
			rep, r.replies = r.replies[0], r.replies[1:]
		}
		r.mu.Unlock()
		if rep.stall > 0 {
			select {
			case <-time.After(rep.stall):
			case <-req.Context().Done():
			}
		}
		if rep.release != nil {
			select {
			case <-rep.release:
			case <-req.Context().Done():
			}
		}
		var ev struct{ ID, Type string }
		json.Unmarshal(body, &ev)
		r.mu.Lock()
		abandoned := req.Context().Err() != nil
		r.hits = append(r.hits, hit{Event: ev.ID, Type: ev.Type, Status: rep.status, Abandoned: abandoned})
		if rep.status < 300 && !abandoned {
			r.got = append(r.got, delivery{Body: body, Signature: req.Header.Get("Stripe-Signature"), At: time.Now()})
		}
		r.mu.Unlock()
		if rep.status >= 300 && rep.status < 400 {
			w.Header().Set("Location", "/followed")
		}
		w.WriteHeader(rep.status)
		r.signal()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) signal() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *receiver) failNext(statuses ...int) {
	r.mu.Lock()
	for _, s := range statuses {
		r.replies = append(r.replies, reply{status: s})
	}
	r.mu.Unlock()
}

// stallNext makes the receiver hold the next request for d before
// answering 200, unless the sender hangs up first.
func (r *receiver) stallNext(d time.Duration) {
	r.mu.Lock()
	r.replies = append(r.replies, reply{status: http.StatusOK, stall: d})
	r.mu.Unlock()
}

// holdNext makes the receiver hold the next request until release is
// called (at the latest when the test ends) before answering 200, unless
// the sender hangs up first.
func (r *receiver) holdNext(t *testing.T) (release func()) {
	ch := make(chan struct{})
	release = sync.OnceFunc(func() { close(ch) })
	t.Cleanup(release)
	r.mu.Lock()
	r.replies = append(r.replies, reply{status: http.StatusOK, release: ch})
	r.mu.Unlock()
	return release
}

// received returns the successful deliveries of events of type typ.
func (r *receiver) received(typ string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		var ev struct{ Type string }
		json.Unmarshal(d.Body, &ev)
		if ev.Type == typ {
			out = append(out, d)
		}
	}
	return out
}

// hitsFor returns every request made for the event with this id.
func (r *receiver) hitsFor(eventID string) []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hit
	for _, h := range r.hits {
		if h.Event == eventID {
			out = append(out, h)
		}
	}
	return out
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
	// client delivers webhooks instead of the sandbox's default client.
	client *http.Client
	// deliveries is the sandbox's DeliveryConcurrency.
	deliveries int
	// prices are seeded besides price_pro_annual.
	prices []sandbox.SeedPrice
	// dunning is the sandbox's Dunning.
	dunning sandbox.Dunning
	// memory runs the sandbox without a database.
	memory bool
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
		Prices:        append([]sandbox.SeedPrice{{ID: "price_pro_annual", ProductName: "Pro, one year", Amount: 24900, Currency: "usd"}}, o.prices...),
		Dunning:       o.dunning,
		Endpoints:     []sandbox.EndpointConfig{{URL: b.hooks.srv.URL + "/webhooks/stripe", Secret: webhookSecret}},
		RetrySchedule: o.retry,
		Faults:        o.faults,
		Now:           b.clock.Now,
		Client:        o.client,

		DeliveryConcurrency: o.deliveries,
	}
	if o.memory {
		b.opts.DB = nil
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

// control makes a request to the sandbox's own JSON controls (/_sandbox/…).
func (b *bundle) control(t *testing.T, method, path, jsonBody string) (int, []byte) {
	t.Helper()
	headers := map[string]string{}
	if jsonBody != "" {
		headers["Content-Type"] = "application/json"
	}
	return b.do(t, method, path, jsonBody, headers)
}

// deliveryRecord is a webhook delivery as GET /_sandbox/deliveries shows it.
type deliveryRecord struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
	Status   string `json:"status"`
	Fault    string `json:"fault"`
	Copy     bool   `json:"copy"`
	Attempts []struct {
		At     time.Time `json:"at"`
		Status int       `json:"status"`
		Error  string    `json:"error"`
	} `json:"attempts"`
}

// deliveries returns the webhook deliveries, filtered by the query (such
// as "event=evt_…" or "status=pending").
func (b *bundle) deliveries(t *testing.T, query string) []deliveryRecord {
	t.Helper()
	status, body := b.get(t, "/_sandbox/deliveries?"+query)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var out struct {
		Deliveries []deliveryRecord `json:"deliveries"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	return out.Deliveries
}

// settle waits until no webhook delivery is waiting for an attempt.
func (b *bundle) settle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		return len(b.deliveries(t, "status=pending")) == 0 && len(b.deliveries(t, "status=held")) == 0
	}, 10*time.Second, 10*time.Millisecond, "webhook deliveries never settled")
}

// apiEvent is the part of an event the tests look at.
type apiEvent struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	PendingWebhooks int64  `json:"pending_webhooks"`
	Data            struct {
		Object struct {
			ID string `json:"id"`
		} `json:"object"`
	} `json:"data"`
}

// event returns an event by id.
func (b *bundle) event(t *testing.T, id string) apiEvent {
	t.Helper()
	status, body := b.get(t, "/v1/events/"+id)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var ev apiEvent
	require.NoError(t, json.Unmarshal(body, &ev))
	return ev
}

// lastEvent returns the newest event of type typ.
func (b *bundle) lastEvent(t *testing.T, typ string) apiEvent {
	t.Helper()
	evs := b.events(t, "type="+typ)
	require.NotEmpty(t, evs, "no %s event", typ)
	return evs[0]
}

// events lists every event matching the query, newest first.
func (b *bundle) events(t *testing.T, query string) []apiEvent {
	t.Helper()
	var out []apiEvent
	for _, raw := range b.listAll(t, "/v1/events", query) {
		var ev apiEvent
		require.NoError(t, json.Unmarshal(raw, &ev))
		out = append(out, ev)
	}
	return out
}

// undelivered returns the ids of the events GET /v1/events?delivery_success=false lists.
func (b *bundle) undelivered(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, ev := range b.events(t, "delivery_success=false") {
		ids = append(ids, ev.ID)
	}
	return ids
}

// listAll pages through a list endpoint and returns every item, newest first.
func (b *bundle) listAll(t *testing.T, path, query string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	after := ""
	for {
		q := "limit=100"
		if query != "" {
			q += "&" + query
		}
		if after != "" {
			q += "&starting_after=" + after
		}
		status, body := b.get(t, path+"?"+q)
		require.Equal(t, http.StatusOK, status, "%s", body)
		var page struct {
			Data    []json.RawMessage `json:"data"`
			HasMore bool              `json:"has_more"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		out = append(out, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return out
		}
		var last struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(page.Data[len(page.Data)-1], &last))
		after = last.ID
	}
}

// count returns how many items a list endpoint has.
func (b *bundle) count(t *testing.T, path string) int {
	t.Helper()
	return len(b.listAll(t, path, ""))
}

// stripeError is an error body in Stripe's shape.
type stripeError struct {
	Error struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Param   string `json:"param"`
	} `json:"error"`
}

// requireStripeError checks that body is an error in Stripe's shape, with a
// type and a message, and returns it.
func requireStripeError(t *testing.T, body []byte) stripeError {
	t.Helper()
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &top), "an error body is JSON: %s", body)
	require.Len(t, top, 1, "an error body holds only \"error\": %s", body)
	require.Contains(t, top, "error", "%s", body)
	var e stripeError
	require.NoError(t, json.Unmarshal(body, &e))
	require.NotEmpty(t, e.Error.Type, "%s", body)
	require.NotEmpty(t, e.Error.Message, "%s", body)
	return e
}
