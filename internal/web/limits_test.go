package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/web"
)

// testClock is a business clock moved by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func withLimits(l web.Limits) func(*web.Deps) {
	return func(d *web.Deps) { d.Limits = l }
}

// metric reads one sample from /metrics, or 0 if absent.
func (b *testBundle) metric(t *testing.T, sample string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(b.do(t, "GET", "/metrics", nil, nil).body)
	if m == nil {
		return "0"
	}
	return m[1]
}

// One client flooding the buy form creates the limit's checkouts at the
// processor and no more; the rest read a calm page saying to wait a minute
// and that nothing was charged.
func TestBuyFloodIsLimited(t *testing.T) {
	b := setup(t, sqldb.SQLite, withLimits(web.Limits{Checkout: limit.Rule{PerMinute: 1, Burst: 3}, MaxClients: 1000}))
	var redirected, limited int
	for i := range 12 {
		// A new address each time: the same one would go back to the
		// checkout already open for it.
		r := b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {fmt.Sprintf("flood%d@example.com", i)}}, nil)
		switch r.status {
		case http.StatusSeeOther:
			redirected++
		case http.StatusTooManyRequests:
			limited++
			require.Equal(t, "60", r.header.Get("Retry-After"))
			require.Contains(t, r.body, "Please wait a minute")
			require.Contains(t, r.body, "nothing was charged for it")
			require.Contains(t, r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'", "a page like any other")
		default:
			t.Fatalf("request %d: status %d:\n%s", i, r.status, r.body)
		}
	}
	require.Equal(t, 3, redirected)
	require.Equal(t, 9, limited)
	require.Equal(t, 3, b.sessions(t), "one processor checkout per allowed request, none for the refused")
	require.Equal(t, 3, b.count(t, "checkout_attempts"), "a refused request records nothing")
	require.Equal(t, "9", b.metric(t, `paidup_requests_limited_total{limit="checkout"}`))
	require.Equal(t, http.StatusOK, b.do(t, "GET", "/buy/pro-annual", nil, nil).status, "the form itself is not limited")
}

// Guessing status pages from one address is refused after its limit, with
// a page that never says nothing was charged: the visitor may have paid.
func TestStatusGuessingIsLimited(t *testing.T) {
	b := setup(t, sqldb.SQLite, withLimits(web.Limits{Status: limit.Rule{PerMinute: 1, Burst: 5}, MaxClients: 1000}))
	var notFound, limited int
	for i := range 20 {
		r := b.do(t, "GET", "/checkout/PU-"+string(rune('A'+i))+"000-0000", nil, nil)
		switch r.status {
		case http.StatusNotFound:
			notFound++
		case http.StatusTooManyRequests:
			limited++
			require.Contains(t, r.body, "Your purchase is safe")
			require.Contains(t, r.body, "reload this page")
			require.Contains(t, r.body, `http-equiv="refresh" content="60"`)
			require.NotContains(t, strings.ToLower(r.body), "nothing was charged")
			require.NotContains(t, strings.ToLower(r.body), "nothing has been charged")
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	require.Equal(t, 5, notFound)
	require.Equal(t, 15, limited)
	require.Equal(t, "15", b.metric(t, `paidup_requests_limited_total{limit="status"}`))
}

// Asking for sign-in links and signing in are limited per client; the
// pages say to wait a minute, and a refused sign-in does not spend the
// link.
func TestSignInIsLimited(t *testing.T) {
	b := setup(t, sqldb.SQLite, withLimits(web.Limits{SignInLink: limit.Rule{PerMinute: 1, Burst: 2}, SignIn: limit.Rule{PerMinute: 1, Burst: 2}, MaxClients: 1000}))
	for range 2 {
		require.Equal(t, http.StatusSeeOther, b.do(t, "POST", "/account/link", url.Values{"email": {"ada@example.com"}}, nil).status)
	}
	r := b.do(t, "POST", "/account/link", url.Values{"email": {"ada@example.com"}}, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Contains(t, r.body, "too many requests for sign-in links")
	require.Contains(t, r.body, "Please wait a minute")

	for range 2 {
		require.Equal(t, http.StatusUnauthorized, b.do(t, "POST", "/account/sign-in", url.Values{"token": {"guess"}}, nil).status)
	}
	r = b.do(t, "POST", "/account/sign-in", url.Values{"token": {"guess"}}, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Contains(t, r.body, "Please wait a minute")
	require.Contains(t, r.body, "has not been used")
}

// A signed-in customer clicking cancel and resume over and over makes the
// limit's processor calls and no more; past it they read that nothing
// changed, and their subscription is as the last change they were allowed
// left it.
func TestAccountChangesAreLimited(t *testing.T) {
	s := setupSubscribers(t, sqldb.SQLite, withLimits(web.Limits{Account: limit.Rule{PerMinute: 1, Burst: 3}, MaxClients: 1000}))
	sub, cookie := s.subscribe(t, "ada@example.com")
	form := url.Values{"subscription": {sub}}
	for _, path := range []string{"/account/cancel", "/account/resume", "/account/cancel"} {
		r := s.do(t, "POST", path, form, cookie)
		require.Equal(t, http.StatusSeeOther, r.status, path)
	}
	require.True(t, s.cancelsAtPeriodEnd(t, sub))
	for _, path := range []string{"/account/resume", "/account/card"} {
		r := s.do(t, "POST", path, form, cookie)
		require.Equal(t, http.StatusTooManyRequests, r.status, path)
		text := visibleText(r.body)
		require.Contains(t, text, "we did not make this one: nothing about your plan or your card has changed")
		require.Contains(t, text, "Please wait a minute")
		require.Equal(t, "60", r.header.Get("Retry-After"))
	}
	require.True(t, s.cancelsAtPeriodEnd(t, sub), "the refused resume changed nothing")
	require.Equal(t, "2", s.metric(t, `paidup_requests_limited_total{limit="account"}`))
}

// A client that fails API authentication repeatedly is refused, in JSON,
// before its key is compared — even a right one from that address — while
// a client with a right key is never slowed, however often it asks.
func TestFailedAPIAuthIsLimited(t *testing.T) {
	b := setup(t, sqldb.SQLite, func(d *web.Deps) {
		d.Limits = web.Limits{APIAuthFailures: limit.Rule{PerMinute: 1, Burst: 3}, MaxClients: 1000}
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	app := map[string]string{"Authorization": "Bearer " + apiKey, "X-Forwarded-For": "192.0.2.10"}
	for range 100 {
		require.Equal(t, http.StatusOK, b.do(t, "GET", "/api/v1/access?email=ada@example.com", nil, app).status)
	}
	attacker := map[string]string{"Authorization": "Bearer wrong", "X-Forwarded-For": "203.0.113.66"}
	for range 3 {
		r := b.do(t, "GET", "/api/v1/access?email=ada@example.com", nil, attacker)
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
		require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	}
	r := b.do(t, "GET", "/api/v1/access?email=ada@example.com", nil, attacker)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	require.Equal(t, "60", r.header.Get("Retry-After"), "a failure a minute")
	var body struct{ Error string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	require.Contains(t, body.Error, "too many requests without a valid key")

	sameAddress := map[string]string{"Authorization": "Bearer " + apiKey, "X-Forwarded-For": "203.0.113.66"}
	require.Equal(t, http.StatusTooManyRequests, b.do(t, "GET", "/api/v1/access?email=ada@example.com", nil, sameAddress).status,
		"refused before the key is compared")
	require.Equal(t, http.StatusOK, b.do(t, "GET", "/api/v1/access?email=ada@example.com", nil, app).status, "the app is not slowed")
	require.Equal(t, "2", b.metric(t, `paidup_requests_limited_total{limit="api_auth"}`))
}

// X-Forwarded-For is believed from a trusted proxy only: behind one, each
// client has its own allowance; from anyone else, a forged header changes
// nothing.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	rule := web.Limits{Checkout: limit.Rule{PerMinute: 1, Burst: 2}, MaxClients: 1000}
	buy := func(b *testBundle, forwarded string) int {
		return b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}}, map[string]string{"X-Forwarded-For": forwarded}).status
	}
	behind := setup(t, sqldb.SQLite, func(d *web.Deps) {
		d.Limits = rule
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	for _, client := range []string{"198.51.100.1", "198.51.100.2", "2001:db8:1:2::1"} {
		for range 2 {
			// The client's own claim, then what the proxies appended.
			require.Equal(t, http.StatusSeeOther, buy(behind, "1.1.1.1, "+client+", 10.0.0.7"), client)
		}
		require.Equal(t, http.StatusTooManyRequests, buy(behind, "6.6.6.6, "+client+", 10.0.0.7"), "%s: what the client itself sent is not believed", client)
	}
	require.Equal(t, http.StatusTooManyRequests, buy(behind, "2001:db8:1:2:ffff::9"), "IPv6 clients are counted by /64")

	exposed := setup(t, sqldb.SQLite, withLimits(rule))
	for i := range 5 {
		status := buy(exposed, "198.51.100."+string(rune('1'+i)))
		if i < 2 {
			require.Equal(t, http.StatusSeeOther, status)
		} else {
			require.Equal(t, http.StatusTooManyRequests, status, "a forged X-Forwarded-For from an untrusted peer is ignored")
		}
	}
}

// Refusals that go on alert on-call through a support case: once when they
// pass the threshold, again an hour later while they continue, not on
// every refusal.
func TestLimitedRefusalsAlertOnCallHourly(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC)}
	b := setup(t, sqldb.SQLite, func(d *web.Deps) {
		d.Limits = web.Limits{Status: limit.Rule{PerMinute: 1, Burst: 1}, MaxClients: 1000, AlertAfter: 5}
		d.Now = clock.Now
	})
	guess := func(n int) {
		for range n {
			b.do(t, "GET", "/checkout/PU-0000-0000", nil, nil)
		}
	}
	cases := func() []paidup.SupportCase {
		cs, err := b.store.OpenCases(context.Background())
		require.NoError(t, err)
		return cs
	}
	guess(5)
	require.Empty(t, cases(), "four refusals: below the threshold")
	guess(20)
	require.Len(t, cases(), 1)
	require.Equal(t, paidup.CaseRequestsLimit, cases()[0].Kind)
	require.Contains(t, cases()[0].Summary, "limits.status")
	require.Contains(t, cases()[0].Summary, "127.0.0.1")
	clock.Advance(30 * time.Minute)
	guess(20)
	require.Len(t, cases(), 1, "not again within the hour")
	clock.Advance(31 * time.Minute)
	guess(20)
	require.Len(t, cases(), 2, "again an hour later, while they go on")
	var alerts int
	require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM emails WHERE kind = 'alert' AND to_address = 'oncall@example.com'`).Scan(&alerts))
	require.Equal(t, 2, alerts)
}

// Refused webhooks alert again each hour while they go on; before, only
// the 20th refusal in a window alerted, and a flood that never paused
// alerted once.
func TestRefusedWebhooksAlertAgainHourly(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC)}
	b := setup(t, sqldb.SQLite, func(d *web.Deps) { d.Now = clock.Now })
	forged, sig := signedEvent(t, "evt_x", "checkout.session.completed", time.Now(), "whsec_rotated_elsewhere")
	refuse := func(n int) {
		for range n {
			require.Equal(t, http.StatusBadRequest, b.postWebhook(t, forged, sig).status)
		}
	}
	count := func() int {
		cs, err := b.store.OpenCases(context.Background())
		require.NoError(t, err)
		return len(cs)
	}
	refuse(25)
	require.Equal(t, 1, count())
	for range 6 {
		clock.Advance(10 * time.Minute)
		refuse(25)
	}
	require.Equal(t, 2, count(), "an hour of refusals: alerted at the start and an hour later")
	clock.Advance(3 * time.Hour)
	refuse(5)
	require.Equal(t, 2, count(), "a few after a quiet spell are not a flood")
}

// The webhook takes JSON only: anything else is refused with 415 and
// counted, and stores nothing.
func TestWebhookNeedsJSON(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	payload, sig := signedEvent(t, "evt_ct", "checkout.session.completed", time.Now(), secret)
	post := func(contentType string) response {
		req, err := http.NewRequest("POST", b.srv.URL+"/webhooks/stripe", strings.NewReader(payload))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Stripe-Signature", sig)
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return response{status: resp.StatusCode}
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data; boundary=x"} {
		require.Equal(t, http.StatusUnsupportedMediaType, post(ct).status, "%q", ct)
	}
	require.Equal(t, 0, b.count(t, "webhook_events"))
	require.Equal(t, "5", b.metric(t, `paidup_webhooks_refused_total{processor="stripe",reason="content_type"}`))
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON ;charset=UTF-8"} {
		require.Equal(t, http.StatusOK, post(ct).status, "%q", ct)
	}
	require.Equal(t, 1, b.count(t, "webhook_events"))
}

// A signed event of the other mode (a live event at this test-mode shop)
// is refused and counted.
func TestWebhookOfTheOtherModeIsRefused(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	payload, _ := signedEvent(t, "evt_live", "checkout.session.completed", time.Now(), secret)
	live := strings.Replace(payload, `"livemode":false`, `"livemode":true`, 1)
	r := b.postWebhook(t, live, sign(t, live, secret))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, 0, b.count(t, "webhook_events"))
	require.Equal(t, "1", b.metric(t, `paidup_webhooks_refused_total{processor="stripe",reason="livemode"}`))
}

// Over https every answer tells browsers to use https only; the pages'
// forms may lead only to paidup and the processor's pages; API answers
// are neither sniffed nor stored.
func TestSecurityHeaders(t *testing.T) {
	plain := setup(t, sqldb.SQLite)
	require.Empty(t, plain.do(t, "GET", "/", nil, nil).header.Get("Strict-Transport-Security"), "not over plain http")
	csp := plain.do(t, "GET", "/buy/pro-annual", nil, nil).header.Get("Content-Security-Policy")
	require.Contains(t, csp, "form-action 'self';", "no processor pages given: paidup only")

	b := setup(t, sqldb.SQLite, func(d *web.Deps) {
		d.PublicURL = "https://shop.example.com"
		d.PageOrigins = []string{"https://checkout.stripe.com", "https://billing.stripe.com", "javascript:alert(1)", "https://x.test; script-src *"}
	})
	for _, path := range []string{"/", "/buy/pro-annual", "/healthz", "/metrics", "/api/v1/access?email=a@example.com", "/no/such/page"} {
		require.Equal(t, "max-age=31536000", b.do(t, "GET", path, nil, nil).header.Get("Strict-Transport-Security"), path)
	}
	require.Equal(t, "max-age=31536000", b.postWebhook(t, "{}", "").header.Get("Strict-Transport-Security"))
	csp = b.do(t, "GET", "/buy/pro-annual", nil, nil).header.Get("Content-Security-Policy")
	require.Contains(t, csp, "form-action 'self' https://checkout.stripe.com https://billing.stripe.com;")
	require.NotContains(t, csp, "javascript")
	require.NotContains(t, csp, "x.test")
	require.NotContains(t, csp, "https:;")

	auth := map[string]string{"Authorization": "Bearer " + apiKey}
	for _, tt := range []struct {
		path    string
		headers map[string]string
		status  int
	}{
		{"/api/v1/access?email=ada@example.com", auth, http.StatusOK},
		{"/api/v1/access?email=nope", auth, http.StatusBadRequest},
		{"/api/v1/customers/cu_nope/access", auth, http.StatusNotFound},
		{"/api/v1/access?email=ada@example.com", nil, http.StatusUnauthorized},
	} {
		r := b.do(t, "GET", tt.path, nil, tt.headers)
		require.Equal(t, tt.status, r.status, tt.path)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), tt.path)
		require.Equal(t, "no-store", r.header.Get("Cache-Control"), tt.path)
	}
}

// When the processor budget is spent, the customer at the buy form is
// told at once to wait a minute and that nothing was charged, and gets the
// same form back: sending it again uses the same purchase.
func TestBuyWhileTheProcessorBudgetIsSpent(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	b.processor.Processor = limit.NewProcessor(b.processor.Processor, limit.Budget{WritesPerSecond: 0.5, ReadsPerSecond: 100})
	_, _ = b.buy(t, "first@example.com")

	ref := formReference(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body)
	began := time.Now()
	r := b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"second@example.com"}, "reference": {ref}}, nil)
	require.Less(t, time.Since(began), time.Second, "refused at once, not after waiting for the budget")
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "60", r.header.Get("Retry-After"))
	require.Contains(t, r.body, "nothing was charged for it")
	require.Contains(t, r.body, "Please wait a minute")
	require.Equal(t, ref, formReference(t, r.body))
	require.Equal(t, "1", b.metric(t, `paidup_requests_limited_total{limit="processor_budget"}`))
	require.Equal(t, 1, b.sessions(t))

	time.Sleep(2 * time.Second)
	r = b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"second@example.com"}, "reference": {ref}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, 2, b.count(t, "checkout_attempts"), "the same attempt")
	require.Equal(t, 2, b.sessions(t))
}
