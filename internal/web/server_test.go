package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
	"github.com/paidup/paidup/internal/web"
)

const (
	secret = "whsec_web_test"
	apiKey = "test-api-key-0123456789abcdef"
)

type testBundle struct {
	srv        *httptest.Server
	store      *store.Store
	db         *sqldb.DB
	sandboxURL string
	sandboxDB  *sqldb.DB
	metrics    *obs.Metrics
	processor  *switchable
	client     *http.Client
	outbox     *notify.Outbox
	policy     *paidup.Policy
	portal     *fakePortal
	logs       *lockedBuffer // the server's log, at info
	// signIns is not worked until workSignIns: a test sees what a request
	// for a sign-in link does by itself.
	signIns *notify.SignInRequests
	// cookie is the checkout cookie of the browser that last bought.
	cookie string
}

// lockedBuffer is a log written by the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// switchable is a processor that can be swapped mid-test, to take the
// processor down or make it misbehave.
type switchable struct{ paidup.Processor }

type panicking struct{ paidup.Processor }

func (panicking) CreateCheckout(context.Context, paidup.CheckoutRequest) (paidup.Checkout, error) {
	panic("boom")
}

// setup runs paidup's web server on a fresh database of engine, with the
// sandbox processor behind the real Stripe adapter. Options change the
// server's dependencies before it starts.
func setup(t testing.TB, engine sqldb.Engine, options ...func(*web.Deps)) *testBundle {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load("", config.Overrides{})
	require.NoError(t, err)

	db := sqldbtest.Open(t, engine)
	_, err = db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	jobs, err := queue.NewInserter(db)
	require.NoError(t, err)

	sdb := sqldbtest.Open(t, sqldb.SQLite)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sbURL := "http://" + l.Addr().String()
	var prices []sandbox.SeedPrice
	for _, p := range cfg.Policy.Plans {
		sp := sandbox.SeedPrice{ID: p.PriceID, ProductName: p.Name, Amount: p.Amount.Amount, Currency: p.Amount.Currency}
		if p.Interval.Recurring() {
			sp.Interval = string(p.Interval)
		}
		prices = append(prices, sp)
	}
	sb, err := sandbox.New(ctx, sandbox.Options{DB: sdb, BaseURL: sbURL, Prices: prices})
	require.NoError(t, err)
	sbSrv := &httptest.Server{Listener: l, Config: &http.Server{Handler: sb.Handler()}}
	sbSrv.Start()
	t.Cleanup(sbSrv.Close)

	b := &testBundle{db: db, sandboxURL: sbURL, sandboxDB: sdb, metrics: obs.NewMetrics(), logs: &lockedBuffer{}}
	b.store, err = store.New(db, time.Now)
	require.NoError(t, err)
	b.processor = &switchable{stripe.New(stripe.Config{SecretKey: "sk_test_web", URL: sbURL, Retries: -1, Timeout: 2 * time.Second})}
	b.srv = httptest.NewUnstartedServer(nil)
	publicURL := "http://" + b.srv.Listener.Addr().String()
	outbox := &notify.Outbox{OnCall: []string{"oncall@example.com"}}
	b.outbox, b.policy, b.portal = outbox, &cfg.Policy, &fakePortal{}
	co := &checkout.Service{Store: b.store, Processor: b.processor, Policy: &cfg.Policy, Notify: outbox,
		Logger: slog.New(slog.DiscardHandler), PublicURL: publicURL, FirstCheck: time.Minute}
	ingester := events.NewIngester(b.store, slog.New(slog.DiscardHandler))
	ictx, stop := context.WithCancel(context.Background())
	go ingester.Run(ictx)
	t.Cleanup(stop)
	deps := web.Deps{
		Store: b.store, DB: db, Queue: jobs, Checkout: co, Ingester: ingester, Outbox: outbox,
		SignIns:  notify.NewSignInRequests(b.store, outbox, slog.New(slog.DiscardHandler), 1024),
		Webhooks: stripe.Verifier{Secrets: []string{"whsec_old", secret}},
		Policy:   &cfg.Policy, Billing: map[string]paidup.Billing{"stripe": b.portal},
		Business:  web.Business{Name: "Test Community", SupportEmail: "help@example.com"},
		PublicURL: publicURL, APIKeys: []string{apiKey}, SessionTTL: time.Hour, LinkTTL: time.Hour,
		Now: time.Now, Metrics: b.metrics, Logger: obs.NewLogger(b.logs, slog.LevelInfo),
		Threads: &inbound.Threads{Store: b.store, Outbox: outbox, Logger: slog.New(slog.DiscardHandler)},
	}
	for _, o := range options {
		o(&deps)
	}
	b.signIns = deps.SignIns
	b.srv.Config.Handler = web.NewServer(deps)
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	b.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

type response struct {
	status int
	header http.Header
	body   string
}

func (b *testBundle) do(t testing.TB, method, path string, form url.Values, headers map[string]string) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *testBundle) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Read.QueryRow("SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func (b *testBundle) sessions(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, b.sandboxDB.Read.QueryRow("SELECT count(*) FROM sandbox_objects WHERE object = 'checkout.session'").Scan(&n))
	return n
}

var refPattern = regexp.MustCompile(`name="reference" value="(PU-[0-9A-Z]{4}-[0-9A-Z]{4})"`)

func formReference(t testing.TB, body string) string {
	t.Helper()
	m := refPattern.FindStringSubmatch(body)
	require.NotNil(t, m, "the buy form carries a reference")
	return m[1]
}

func TestPagesAndPurchaseStart(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)

		r := b.do(t, "GET", "/", nil, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.body, "Pro, one year")
		require.Contains(t, r.body, "$249.00")
		require.Contains(t, r.body, `href="/buy/pro-annual"`)
		require.Equal(t, "DENY", r.header.Get("X-Frame-Options"))
		require.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'self'")

		r = b.do(t, "GET", "/buy/pro-annual", nil, nil)
		require.Equal(t, http.StatusOK, r.status)
		ref := formReference(t, r.body)
		require.NotEqual(t, ref, formReference(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body), "each form gets its own reference")

		r = b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {" Ada@Example.COM "}, "reference": {ref}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		loc := r.header.Get("Location")
		require.True(t, strings.HasPrefix(loc, b.sandboxURL+"/c/pay/cs_test_"), loc)
		browser := startedCookie(t, r)

		a, err := b.store.CheckoutAttempt(context.Background(), ref)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptOpen, a.Status)
		require.Equal(t, "ada@example.com", a.Email)
		require.Equal(t, int64(24900), a.Amount.Amount)
		require.Equal(t, loc, a.CheckoutURL)

		// A double click, or a reload of the form: the same checkout.
		r = b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, loc, r.header.Get("Location"))
		require.Equal(t, 1, b.count(t, "checkout_attempts"))
		require.Equal(t, 1, b.sessions(t))

		// The same reference with another email is not that attempt.
		r = b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"eve@example.com"}, "reference": {ref}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.NotEqual(t, loc, r.header.Get("Location"))
		require.Equal(t, 2, b.count(t, "checkout_attempts"))

		r = b.do(t, "GET", "/checkout/"+strings.ToLower(ref), nil, nil)
		require.Equal(t, http.StatusOK, r.status, "references are read as people type them")
		require.Contains(t, r.body, "We haven't confirmed a payment for this purchase yet")
		require.Contains(t, r.body, ref)
		status := strings.Split(b.returnPath(t, loc), "&")[0] // the status page, without coming back from paying
		require.Contains(t, b.do(t, "GET", status, nil, nil).body, "Nothing has been charged yet")

		r = b.do(t, "GET", "/buy/pro-annual?cancelled="+ref, nil, map[string]string{"Cookie": browser})
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.body, "nothing has been charged")
		require.Equal(t, ref, formReference(t, r.body), "back to the same checkout")
		require.Contains(t, r.body, `value="ada@example.com"`, "the browser that started the checkout gets its email back")
	})
}

// Hostile or mistaken input on the purchase form gets a clear answer and
// changes nothing.
func TestBuyFormRefusesBadInput(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		tests := []struct {
			name   string
			path   string
			form   url.Values
			status int
			want   string
		}{
			{"no email", "/buy/pro-annual", url.Values{}, 422, "Please enter your email address"},
			{"not an email", "/buy/pro-annual", url.Values{"email": {"ada at example"}}, 422, "does not look like an email"},
			{"header injection", "/buy/pro-annual", url.Values{"email": {"ada@example.com\r\nBcc: all@example.com"}}, 422, "does not look like an email"},
			{"display name", "/buy/pro-annual", url.Values{"email": {"Ada <ada@example.com>"}}, 422, "does not look like an email"},
			{"too long", "/buy/pro-annual", url.Values{"email": {strings.Repeat("a", 250) + "@example.com"}}, 422, "too long"},
			{"script", "/buy/pro-annual", url.Values{"email": {"<script>alert(1)</script>"}}, 422, "&lt;script&gt;"},
			{"unknown plan", "/buy/nope", url.Values{"email": {"ada@example.com"}}, 404, "We do not sell that plan"},
			{"oversize", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "x": {strings.Repeat("x", 20<<10)}}, 400, "could not be read"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := b.do(t, "POST", tt.path, tt.form, nil)
				require.Equal(t, tt.status, r.status, r.body)
				require.Contains(t, r.body, tt.want)
				require.NotContains(t, r.body, "<script>alert(1)</script>")
				require.Equal(t, 0, b.count(t, "checkout_attempts"))
				require.Equal(t, 0, b.sessions(t))
			})
		}
		r := b.do(t, "GET", "/checkout/not-a-reference", nil, nil)
		require.Equal(t, http.StatusNotFound, r.status)
		r = b.do(t, "GET", "/checkout/PU-0000-0000", nil, nil)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Contains(t, r.body, "We have no purchase with the reference")
		require.Contains(t, r.body, `href="/account"`, "the account page first, not the shop")
		require.NotContains(t, r.body, "bank statement", "the test server's statements carry no reference")
		r = b.do(t, "GET", "/no/such/page", nil, nil)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Contains(t, r.body, "R-", "error pages carry a reference for support")
	})
}

// When the processor cannot be reached, the customer is told that nothing
// was charged and may try again; trying again once it is back uses the same
// attempt.
func TestProcessorDownAtCheckout(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	good := b.processor.Processor
	b.processor.Processor = stripe.New(stripe.Config{SecretKey: "sk_test_web", URL: "http://127.0.0.1:1", Retries: -1, Timeout: time.Second})
	ref := formReference(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body)

	r := b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Contains(t, r.body, "Nothing has been charged")
	require.Equal(t, ref, formReference(t, r.body), "trying again reuses the attempt")
	a, err := b.store.CheckoutAttempt(context.Background(), ref)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptCreated, a.Status)

	b.processor.Processor = good
	r = b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, 1, b.count(t, "checkout_attempts"))
	require.Equal(t, 1, b.sessions(t))
}

// A bug that panics shows the recovery page with a reference, never a
// stack trace or an empty body.
func TestPanicShowsRecoveryPage(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	b.processor.Processor = panicking{b.processor.Processor}
	r := b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}}, nil)
	require.Equal(t, http.StatusInternalServerError, r.status)
	require.Contains(t, r.body, "Something went wrong on our side")
	require.Regexp(t, `R-[0-9A-F]{12}`, r.body)
	require.NotContains(t, r.body, "goroutine")
	require.NotContains(t, r.body, "boom")
}

func signedEvent(t *testing.T, id, typ string, at time.Time, sec string) (string, string) {
	t.Helper()
	payload := fmt.Sprintf(`{"id":%q,"object":"event","type":%q,"created":%d,"api_version":"2026-02-25.clover","livemode":false,"pending_webhooks":1,"data":{"object":{"id":"cs_test_1","object":"checkout.session"}}}`, id, typ, at.Unix())
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: sec, Timestamp: at})
	return payload, sp.Header
}

func (b *testBundle) postWebhook(t *testing.T, payload, signature string) response {
	t.Helper()
	req, err := http.NewRequest("POST", b.srv.URL+"/webhooks/stripe", strings.NewReader(payload))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// sign signs a payload as Stripe does, now.
func sign(t *testing.T, payload, sec string) string {
	t.Helper()
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: sec, Timestamp: time.Now()}).Header
}

// Webhooks are stored once, before they are acknowledged; anything forged,
// stale, malformed or oversize is refused and changes nothing.
func TestStripeWebhookIngestion(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		now := time.Now()
		payload, sig := signedEvent(t, "evt_1", "checkout.session.completed", now, secret)
		r := b.postWebhook(t, payload, sig)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, 1, b.count(t, "webhook_events"), "stored before the 200")
		r = b.postWebhook(t, payload, sig)
		require.Equal(t, http.StatusOK, r.status, "a duplicate is acknowledged")
		require.Equal(t, 1, b.count(t, "webhook_events"), "and stored once")
		oldPayload, oldSig := signedEvent(t, "evt_2", "charge.succeeded", now, "whsec_old")
		require.Equal(t, http.StatusOK, b.postWebhook(t, oldPayload, oldSig).status, "a rotated-out secret still configured is accepted")
		require.Equal(t, 2, b.count(t, "webhook_events"))

		forged, forgedSig := signedEvent(t, "evt_3", "checkout.session.completed", now, "whsec_attacker")
		stale, staleSig := signedEvent(t, "evt_4", "checkout.session.completed", now.Add(-6*time.Minute), secret)
		notEvent := `{"id":"cs_1","object":"checkout.session"}`
		notEventSig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(notEvent), Secret: secret, Timestamp: now}).Header
		big := `{"id":"evt_5","pad":"` + strings.Repeat("x", 1<<20) + `"}`
		bigSig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(big), Secret: secret, Timestamp: now}).Header
		tests := []struct {
			name, payload, sig, reason string
		}{
			{"forged", forged, forgedSig, "signature"},
			{"unsigned", payload, "", "signature"},
			{"garbage signature", payload, "t=abc,v1=zz", "signature"},
			{"stale", stale, staleSig, "stale"},
			{"truncated", payload[:len(payload)/2], sig, "signature"},
			{"tampered", strings.Replace(payload, "evt_1", "evt_9", 1), sig, "signature"},
			{"not an event", notEvent, notEventSig, "malformed"},
			{"oversize", big, bigSig, "oversize"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := b.postWebhook(t, tt.payload, tt.sig)
				require.Equal(t, http.StatusBadRequest, r.status)
				require.Equal(t, "invalid webhook\n", r.body, "the sender learns nothing")
				require.Equal(t, 2, b.count(t, "webhook_events"))
				m := b.do(t, "GET", "/metrics", nil, nil)
				require.Regexp(t, `paidup_webhooks_refused_total\{processor="stripe",reason="`+tt.reason+`"\} [1-9]`, m.body)
			})
		}
	})
}

func TestHealthAndMetrics(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	r := b.do(t, "GET", "/healthz", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `"status": "ok"`)
	require.Contains(t, r.body, `"engine": "sqlite"`)

	r = b.do(t, "GET", "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `paidup_http_requests_total{code="200",route="healthz"} 1`)
	require.Contains(t, r.body, "go_goroutines")

	require.NoError(t, b.db.Close())
	r = b.do(t, "GET", "/healthz", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Contains(t, r.body, `"status": "unavailable"`)
	require.NotContains(t, r.body, "sql:", "internal errors stay in the logs")
}

// pay pays a sandbox checkout through its test helper, as a customer would
// on the payment page.
func (b *testBundle) pay(t testing.TB, payPage string) {
	t.Helper()
	id := payPage[strings.LastIndex(payPage, "/")+1:]
	req, err := http.NewRequest("POST", b.sandboxURL+"/v1/test_helpers/checkout/sessions/"+id+"/pay?payment_method=pm_card_visa", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk_test_web")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// returnPath is where the processor sends the customer back to after
// paying on payPage: the checkout's success URL, as a path on paidup.
func (b *testBundle) returnPath(t testing.TB, payPage string) string {
	t.Helper()
	id := payPage[strings.LastIndex(payPage, "/")+1:]
	req, err := http.NewRequest("GET", b.sandboxURL+"/v1/checkout/sessions/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk_test_web")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var cs struct {
		SuccessURL string `json:"success_url"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&cs))
	require.True(t, strings.HasPrefix(cs.SuccessURL, b.srv.URL+"/checkout/"), cs.SuccessURL)
	return strings.ReplaceAll(strings.TrimPrefix(cs.SuccessURL, b.srv.URL), "{CHECKOUT_SESSION_ID}", id)
}

// startedCookie is the cookie a buy form's submit gave its browser.
func startedCookie(t testing.TB, r response) string {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "paidup_checkout" {
			require.True(t, c.HttpOnly)
			require.Equal(t, http.SameSiteLaxMode, c.SameSite)
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("the buy form's answer sets no paidup_checkout cookie: %v", r.header.Values("Set-Cookie"))
	return ""
}

// buy starts a purchase and returns its reference and payment page.
func (b *testBundle) buy(t testing.TB, email string) (string, string) {
	t.Helper()
	ref := formReference(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body)
	r := b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {email}, "reference": {ref}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	b.cookie = startedCookie(t, r)
	return ref, r.header.Get("Location")
}

// The return page fulfils the payment itself: the customer sees "You're in"
// without waiting for a webhook, and coming back again changes nothing.
func TestReturnPageFulfils(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ref, payPage := b.buy(t, "ada@example.com")
		back := b.returnPath(t, payPage)
		status := strings.Split(back, "&")[0] // the status page, without coming back from paying
		r := b.do(t, "GET", status, nil, nil)
		require.Contains(t, r.body, "Your payment is not finished", "before paying, nothing is charged")
		require.Contains(t, r.body, payPage)

		b.pay(t, payPage)
		for range 3 {
			r = b.do(t, "GET", back, nil, nil)
			require.Equal(t, http.StatusOK, r.status)
			require.Contains(t, r.body, "You're in")
			require.Contains(t, r.body, "You now have Pro, until ")
			require.NotContains(t, r.body, `http-equiv="refresh"`, "a finished page does not refresh")
		}
		require.Equal(t, 1, b.count(t, "grants"))
		require.Equal(t, 1, b.count(t, "emails"))

		// The form submitted again after paying shows the outcome, not a
		// second payment page.
		// The browser that started it is sent to the whole page; another,
		// with only the form, to the page its reference opens.
		r = b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, map[string]string{"Cookie": b.cookie})
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, status, r.header.Get("Location"))
		r = b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, "/checkout/"+ref, r.header.Get("Location"))
		require.Equal(t, 1, b.sessions(t))
	})
}

// While the processor cannot be asked, the return page says it is
// confirming — never that the payment failed — and refreshes itself.
func TestReturnPageWhileProcessorIsDown(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	_, payPage := b.buy(t, "ada@example.com")
	b.pay(t, payPage)
	back := b.returnPath(t, payPage)
	good := b.processor.Processor
	b.processor.Processor = stripe.New(stripe.Config{SecretKey: "sk_test_web", URL: "http://127.0.0.1:1", Retries: -1, Timeout: time.Second})
	r := b.do(t, "GET", back, nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "We're confirming your payment")
	require.Contains(t, r.body, "Please don't pay again")
	require.Contains(t, r.body, `http-equiv="refresh"`)
	require.NotContains(t, strings.ToLower(r.body), "failed")
	b.processor.Processor = good
	require.Contains(t, b.do(t, "GET", back, nil, nil).body, "You're in")
}

func TestAccessAPI(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		auth := map[string]string{"Authorization": "Bearer " + apiKey}
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": apiKey}, {"Authorization": "Bearer " + apiKey + "x"}} {
			r := b.do(t, "GET", "/api/v1/access?email=ada@example.com", nil, h)
			require.Equal(t, http.StatusUnauthorized, r.status)
			require.Equal(t, "unauthorized\n", r.body, "no detail")
		}
		r := b.do(t, "GET", "/api/v1/access?email=Ada@Example.com", nil, auth)
		require.Equal(t, http.StatusOK, r.status)
		require.JSONEq(t, `{"customer":null,"active":false,"tier":"","blocked":false,"until":null,"grants":[]}`, r.body)
		r = b.do(t, "GET", "/api/v1/access?email=nope", nil, auth)
		require.Equal(t, http.StatusBadRequest, r.status)

		_, payPage := b.buy(t, "ada@example.com")
		b.pay(t, payPage)
		b.do(t, "GET", b.returnPath(t, payPage), nil, nil)
		r = b.do(t, "GET", "/api/v1/access?email=ADA@example.com", nil, auth)
		require.Equal(t, http.StatusOK, r.status)
		var a struct {
			Customer struct {
				ID           string
				Email        string
				ProcessorIDs map[string][]string `json:"processor_ids"`
			}
			Active  bool
			Tier    string
			Blocked bool
			Until   *time.Time
			Grants  []struct {
				Tier      string
				Source    string
				SourceRef string `json:"source_ref"`
				Start     time.Time
				End       *time.Time
				Active    bool
			}
		}
		require.NoError(t, json.Unmarshal([]byte(r.body), &a))
		require.True(t, a.Active)
		require.Equal(t, "pro", a.Tier)
		require.False(t, a.Blocked)
		require.Len(t, a.Grants, 1)
		require.Equal(t, "purchase", a.Grants[0].Source)
		require.NotNil(t, a.Grants[0].End)
		require.WithinDuration(t, a.Grants[0].Start.AddDate(1, 0, 0), *a.Grants[0].End, time.Second)
		require.Len(t, a.Customer.ProcessorIDs["stripe"], 1)

		r = b.do(t, "GET", "/api/v1/customers/"+a.Customer.ID+"/access", nil, auth)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.body, `"tier": "pro"`)
		r = b.do(t, "GET", "/api/v1/customers/cu_nope/access", nil, auth)
		require.Equal(t, http.StatusNotFound, r.status)
	})
}

// Customers sign in with single-use emailed links; signing in with one
// ends the others. (Asking for a link: signin_test.go.)
func TestAccountSignIn(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ref, payPage := b.buy(t, "ada@example.com")
		b.pay(t, payPage)
		b.do(t, "GET", b.returnPath(t, payPage), nil, nil)

		c, err := b.store.CustomerByEmail(context.Background(), "ada@example.com")
		require.NoError(t, err)
		older, err := b.store.CreateSignInLink(context.Background(), c.ID, time.Hour)
		require.NoError(t, err)
		token, err := b.store.CreateSignInLink(context.Background(), c.ID, time.Hour)
		require.NoError(t, err)
		other := b.customer(t, "grace@example.com")
		othersLink, err := b.store.CreateSignInLink(context.Background(), other, time.Hour)
		require.NoError(t, err)

		r := b.do(t, "GET", "/account/sign-in?token="+token, nil, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Empty(t, r.header.Values("Set-Cookie"), "opening the link does not sign in: mail scanners open links")

		r = b.do(t, "POST", "/account/sign-in", url.Values{"token": {token}}, map[string]string{"Origin": "https://evil.example"})
		require.Equal(t, http.StatusForbidden, r.status, "a cross-site form cannot sign anyone in")

		r = b.do(t, "POST", "/account/sign-in", url.Values{"token": {token}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		cookie := r.header.Get("Set-Cookie")
		require.Contains(t, cookie, "HttpOnly")
		require.Contains(t, cookie, "SameSite=Lax")
		session := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "paidup_session=")

		r = b.do(t, "POST", "/account/sign-in", url.Values{"token": {token}}, nil)
		require.Equal(t, http.StatusUnauthorized, r.status, "a link works once")
		require.Contains(t, r.body, "expired or has been used already")
		r = b.do(t, "POST", "/account/sign-in", url.Values{"token": {older}}, nil)
		require.Equal(t, http.StatusUnauthorized, r.status, "signing in with one link ends the customer's others")
		require.Contains(t, r.body, "signing in with one link ends the others")
		require.Empty(t, r.header.Values("Set-Cookie"))
		r = b.do(t, "POST", "/account/sign-in", url.Values{"token": {othersLink}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status, "another customer's link still works")

		page := b.do(t, "GET", "/account", nil, map[string]string{"Cookie": "paidup_session=" + session})
		require.Contains(t, page.body, "Signed in as ada@example.com")
		require.Contains(t, page.body, "Pro")
		require.Contains(t, page.body, ref)
		require.Contains(t, b.do(t, "GET", "/account", nil, map[string]string{"Cookie": "paidup_session=forged"}).body, "Email me a sign-in link")

		r = b.do(t, "POST", "/account/sign-out", url.Values{}, map[string]string{"Cookie": "paidup_session=" + session})
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Contains(t, b.do(t, "GET", "/account", nil, map[string]string{"Cookie": "paidup_session=" + session}).body, "Email me a sign-in link")
	})
}

// A flood of refused webhooks — a secret rotated at Stripe but not here,
// or someone probing — alerts on-call once, through a support case.
func TestRefusedWebhooksAlertOnCall(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	forged, sig := signedEvent(t, "evt_x", "checkout.session.completed", time.Now(), "whsec_rotated_elsewhere")
	for range 25 {
		require.Equal(t, http.StatusBadRequest, b.postWebhook(t, forged, sig).status)
	}
	cases, err := b.store.OpenCases(context.Background())
	require.NoError(t, err)
	require.Len(t, cases, 1)
	require.Equal(t, "webhook_refusals", cases[0].Kind)
	require.Contains(t, cases[0].Summary, "webhook_secrets")
	var alerts int
	require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM emails WHERE kind = 'alert' AND to_address = 'oncall@example.com'`).Scan(&alerts))
	require.Equal(t, 1, alerts)
	require.Equal(t, 0, b.count(t, "webhook_events"))
}

// counting is the processor, counting the calls paidup makes to it.
type counting struct {
	paidup.Processor
	n atomic.Int64
}

func (c *counting) Checkout(ctx context.Context, id string) (paidup.Checkout, error) {
	c.n.Add(1)
	return c.Processor.Checkout(ctx, id)
}

func (c *counting) CheckoutForPayment(ctx context.Context, id string) (paidup.Checkout, error) {
	c.n.Add(1)
	return c.Processor.CheckoutForPayment(ctx, id)
}

func (c *counting) CreateCheckout(ctx context.Context, r paidup.CheckoutRequest) (paidup.Checkout, error) {
	c.n.Add(1)
	return c.Processor.CreateCheckout(ctx, r)
}

// What a status link reveals: the short reference, which people read out
// and which can be guessed, shows the state and a masked email, nothing
// personal, and costs no call to the processor; the status token in the
// address the processor sends the buyer back to shows everything.
func TestStatusLinkReveals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ref, payPage := b.buy(t, "ada@example.com")
		back := b.returnPath(t, payPage)
		_, otherPage := b.buy(t, "bob@example.com")
		other := b.returnPath(t, otherPage)
		token := regexp.MustCompile(`token=([^&]+)`).FindStringSubmatch(back)[1]
		id := payPage[strings.LastIndex(payPage, "/")+1:]
		calls := &counting{Processor: b.processor.Processor}
		b.processor.Processor = calls

		guesses := []string{
			"/checkout/" + ref,
			"/checkout/" + strings.ToLower(ref),
			"/checkout/" + ref + "?checkout=" + id,                         // the checkout id opens only attempts from before tokens
			"/checkout/" + ref + "?token=" + token[:42] + otherLast(token), // one character off
			"/checkout/" + ref + "?token=" + regexp.MustCompile(`token=([^&]+)`).FindStringSubmatch(other)[1], // another purchase's
			"/checkout/" + ref + "?token=" + paidup.HashStatusToken(token),
		}
		seesNothingPersonal := func(want string) {
			t.Helper()
			for _, path := range guesses {
				r := b.do(t, "GET", path, nil, nil)
				require.Equal(t, http.StatusOK, r.status, path)
				require.Contains(t, r.body, ref, path)
				require.Contains(t, r.body, want, path)
				require.Contains(t, r.body, "a•••@example.com", path)
				for _, secret := range []string{"ada@example.com", "$249.00", "249", "Pro, one year", "pro-annual", "cs_test_", b.sandboxURL} {
					require.NotContains(t, r.body, secret, path)
				}
				require.NotContains(t, r.body, `http-equiv="refresh"`, path)
			}
			require.Zero(t, calls.n.Load(), "no processor call for a visitor without the token")
		}
		seesNothingPersonal("We haven't confirmed a payment for this purchase yet")

		r := b.do(t, "GET", strings.Split(back, "&")[0], nil, nil)
		require.Contains(t, r.body, "Your payment is not finished")
		require.Contains(t, r.body, payPage, "the token holder may go back to the payment page")
		require.Contains(t, r.body, "ada@example.com")
		require.Contains(t, r.body, "$249.00")
		require.Contains(t, r.body, "Pro, one year")

		b.pay(t, payPage)
		r = b.do(t, "GET", back, nil, nil)
		require.Contains(t, r.body, "<h1>You're in</h1>")
		require.Contains(t, r.body, "Your payment of $249.00 went through. You now have Pro, until ")
		require.Contains(t, r.body, "ada@example.com")
		calls.n.Store(0)
		seesNothingPersonal("Your payment went through, and your access is granted.")
	})
}

// Attempts from before status tokens have return addresses that carry the
// processor's checkout id alone; for them, and only them, that id opens
// the whole page.
func TestStatusPageOfAttemptWithoutToken(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ref, payPage := b.buy(t, "ada@example.com")
		back := b.returnPath(t, payPage)
		id := payPage[strings.LastIndex(payPage, "/")+1:]
		_, err := b.db.Write.Exec(`UPDATE checkout_attempts SET status_token = NULL, status_token_hash = NULL WHERE reference = $1`, ref)
		require.NoError(t, err)
		b.pay(t, payPage)

		r := b.do(t, "GET", "/checkout/"+ref+"?checkout="+id, nil, nil)
		require.Contains(t, r.body, "Your payment of $249.00 went through", "the old-style return address works")
		require.Contains(t, r.body, "ada@example.com")
		for _, path := range []string{"/checkout/" + ref + "?checkout=cs_test_wrong", "/checkout/" + ref, strings.Split(back, "&")[0]} {
			r = b.do(t, "GET", path, nil, nil)
			require.Contains(t, r.body, "Your payment went through, and your access is granted.", path)
			require.NotContains(t, r.body, "ada@example.com", path)
		}
	})
}

// Coming back from the payment page by its cancel link fills in the email
// again only in the browser that started the checkout.
func TestCancelLinkPrefillsOnlyItsBrowser(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	ref, _ := b.buy(t, "ada@example.com")
	ada := b.cookie
	b.buy(t, "bob@example.com")
	bob := b.cookie
	for name, headers := range map[string]map[string]string{
		"another browser":                    nil,
		"a browser that started another one": {"Cookie": bob},
		"a forged cookie":                    {"Cookie": "paidup_checkout=" + strings.Repeat("A", 43)},
	} {
		r := b.do(t, "GET", "/buy/pro-annual?cancelled="+ref, nil, headers)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.body, `id="email" name="email" type="email" autocomplete="email" value=""`, name)
		require.NotContains(t, r.body, "ada@example.com", name)
	}
	r := b.do(t, "GET", "/buy/pro-annual?cancelled="+ref, nil, map[string]string{"Cookie": ada})
	require.Contains(t, r.body, `value="ada@example.com"`)
}

// A second submit of the same email and plan, from a fresh form (another
// tab, another device), goes to the payment page already open for them:
// one processor checkout however often the form is sent.
func TestSecondSubmitReusesOpenCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		_, first := b.buy(t, "ada@example.com")
		for range 5 {
			ref := formReference(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body)
			r := b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"Ada@example.com"}, "reference": {ref}}, nil)
			require.Equal(t, http.StatusSeeOther, r.status)
			require.Equal(t, first, r.header.Get("Location"))
			require.Empty(t, r.header.Values("Set-Cookie"), "the first browser's token stays with it")
		}
		require.Equal(t, 1, b.sessions(t))
		require.Equal(t, 1, b.count(t, "checkout_attempts"))
		_, other := b.buy(t, "bob@example.com")
		require.NotEqual(t, first, other)
		require.Equal(t, 2, b.sessions(t))
	})
}

// "You're in" rests on the grant of the purchase's own payment, while it
// stands: a grant revoked, or a payment refunded, says so instead.
func TestStatusPageFollowsTheGrant(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	_, payPage := b.buy(t, "ada@example.com")
	back := b.returnPath(t, payPage)
	b.pay(t, payPage)
	require.Contains(t, b.do(t, "GET", back, nil, nil).body, "<h1>You're in</h1>")

	_, err := b.db.Write.Exec(`UPDATE grants SET revoked_at = $1, revoke_reason = 'chargeback'`, time.Now())
	require.NoError(t, err)
	r := b.do(t, "GET", back, nil, nil)
	require.NotContains(t, r.body, "You're in")
	require.Contains(t, r.body, "This purchase no longer gives access")

	_, err = b.db.Write.Exec(`UPDATE payments SET status = 'refunded', amount_refunded = amount`)
	require.NoError(t, err)
	require.Contains(t, b.do(t, "GET", back, nil, nil).body, "This payment was refunded")

	_, err = b.db.Write.Exec(`UPDATE payments SET checkout_id = 'cs_test_someone_elses'`)
	require.NoError(t, err)
	r = b.do(t, "GET", back, nil, nil)
	require.NotContains(t, r.body, "You're in")
	require.Contains(t, r.body, "We couldn't confirm this purchase", "a payment that is not the purchase's own grants it nothing")
}

// lostAnswer is the processor with its answer to checkout creation lost
// on the way back: the checkout exists, and paidup never learns its id.
type lostAnswer struct{ paidup.Processor }

func (p lostAnswer) CreateCheckout(ctx context.Context, r paidup.CheckoutRequest) (paidup.Checkout, error) {
	if _, err := p.Processor.CreateCheckout(ctx, r); err != nil {
		return paidup.Checkout{}, err
	}
	return paidup.Checkout{}, paidup.Errorf(paidup.EUNAVAILABLE, "connection reset after the request was sent")
}

// A customer who paid through a checkout paidup never recorded comes back
// to "You're in": the return address names the checkout, whose proof shows
// it is theirs. Another checkout named there is not taken for theirs.
func TestReturnPageFulfilsUnrecordedCheckout(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	good := b.processor.Processor
	b.processor.Processor = lostAnswer{good}
	ref := formReference(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body)
	r := b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	b.processor.Processor = good
	var id string
	require.NoError(t, b.sandboxDB.Read.QueryRow(`SELECT id FROM sandbox_objects WHERE object = 'checkout.session'`).Scan(&id))
	payPage := b.sandboxURL + "/c/pay/" + id
	back := b.returnPath(t, payPage)

	_, otherPage := b.buy(t, "bob@example.com")
	b.pay(t, otherPage)
	other := otherPage[strings.LastIndex(otherPage, "/")+1:]
	r = b.do(t, "GET", strings.Replace(back, id, other, 1), nil, nil)
	require.NotContains(t, r.body, "You're in", "another customer's checkout is not this one's")
	require.Contains(t, r.body, "We're confirming your payment")

	b.pay(t, payPage)
	r = b.do(t, "GET", back, nil, nil)
	require.Contains(t, r.body, "<h1>You're in</h1>")
	require.Contains(t, r.body, "ada@example.com")
	a, err := b.store.CheckoutAttempt(context.Background(), ref)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptFulfilled, a.Status)
	require.Equal(t, id, a.CheckoutID)
}

// otherLast is a last character for a status token that differs from
// token's own in the bits it carries (the last of 43 base64 characters
// carries four: A, Q, g and w differ in them).
func otherLast(token string) string {
	if strings.HasSuffix(token, "A") {
		return "Q"
	}
	return "A"
}
