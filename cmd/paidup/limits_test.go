package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	limitsStripeKey  = "sk_test_limits"
	limitsWebhookKey = "whsec_limits_0123456789abcdef"
	limitsAPIKey     = "limits-test-api-key-0123456789abcdef"
)

// TestLimitsAgainstTheBinary holds the limits from outside, as a hostile
// client meets them: the real binary, talking to a separate `paidup
// sandbox` process through a proxy that counts every call paidup makes to
// the processor.
func TestLimitsAgainstTheBinary(t *testing.T) {
	bin := buildPaidup(t)
	t.Run("flood from one address", func(t *testing.T) { floodFromOneAddress(t, bin) })
	t.Run("many addresses behind a trusted proxy", func(t *testing.T) { manyAddresses(t, bin) })
	t.Run("the processor budget holds", func(t *testing.T) { budgetHolds(t, bin) })
	t.Run("limits off", func(t *testing.T) { limitsOff(t, bin) })
	t.Run("bad limits are refused", func(t *testing.T) { badLimitsRefused(t, bin) })
}

// One address floods the buy form, forging X-Forwarded-For on every
// request: it creates no more processor checkouts than its limit allows
// and then reads the calm page; guessing status pages and API keys from it
// is refused after their limits; and on-call hears of it once.
func floodFromOneAddress(t *testing.T, bin string) {
	w := startLimitsWorld(t, bin, "", "limits:\n  alert_after: 20\n")
	var passed, limited int
	start := time.Now()
	for i := range 40 {
		// A new email each time: the same one would go back to the
		// checkout already open for it.
		resp := w.send(t, http.MethodPost, "/buy/pro-annual", url.Values{"email": {fmt.Sprintf("flood%d@example.com", i)}}, map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)})
		switch resp.status {
		case http.StatusSeeOther:
			passed++
		case http.StatusTooManyRequests:
			limited++
			requireContains(t, resp.body, "Please wait a minute", "nothing was charged for it")
			if resp.header.Get("Retry-After") != "60" {
				t.Fatalf("Retry-After %q", resp.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("status %d:\n%s", resp.status, resp.body)
		}
	}
	// The default: 5 at once, then 10 a minute.
	allowed := 5 + int(time.Since(start).Seconds()*10/60)
	sessions := w.calls.count(http.MethodPost, "/v1/checkout/sessions")
	t.Logf("40 buys from one address in %s: %d went through, %d limited; the processor saw %d checkout sessions created", time.Since(start).Round(time.Millisecond), passed, limited, sessions)
	if sessions != passed || passed > allowed || passed < 5 {
		t.Fatalf("%d checkout sessions created, %d requests passed; want the burst of 5 (at most %d)", sessions, passed, allowed)
	}

	notFound, guessesLimited := 0, 0
	for i := range 50 {
		resp := w.send(t, http.MethodGet, fmt.Sprintf("/checkout/PU-%04d-ABCD", i), nil, nil)
		switch resp.status {
		case http.StatusNotFound:
			notFound++
		case http.StatusTooManyRequests:
			guessesLimited++
			requireContains(t, resp.body, "Your purchase is safe")
			if strings.Contains(resp.body, "nothing was charged") {
				t.Fatal("a status page says nothing was charged")
			}
		default:
			t.Fatalf("status page: %d", resp.status)
		}
	}
	if notFound > 31 || guessesLimited < 19 {
		t.Fatalf("status guessing: %d answered, %d limited; want the burst of 30 answered", notFound, guessesLimited)
	}

	unauthorized, authLimited := 0, 0
	for range 30 {
		switch resp := w.send(t, http.MethodGet, "/api/v1/access?email=a@example.com", nil, map[string]string{"Authorization": "Bearer guess"}); resp.status {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			authLimited++
			if resp.header.Get("Content-Type") != "application/json" || resp.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("API refusal headers: %v", resp.header)
			}
		}
	}
	if unauthorized > 21 || authLimited < 9 {
		t.Fatalf("API key guessing: %d answered 401, %d limited; want the burst of 20 answered", unauthorized, authLimited)
	}

	m := w.send(t, http.MethodGet, "/metrics", nil, nil).body
	requireContains(t, m, fmt.Sprintf(`paidup_requests_limited_total{limit="checkout"} %d`, limited),
		fmt.Sprintf(`paidup_requests_limited_total{limit="status"} %d`, guessesLimited), fmt.Sprintf(`paidup_requests_limited_total{limit="api_auth"} %d`, authLimited))
	if n := countRows(t, w.dbURL, `SELECT count(*) FROM support_cases WHERE kind = 'requests_limited'`); n != 1 {
		t.Fatalf("%d support cases about the flood; want 1", n)
	}
	if n := countRows(t, w.dbURL, `SELECT count(*) FROM emails WHERE kind = 'alert' AND to_address = 'oncall@example.com'`); n != 1 {
		t.Fatalf("%d alerts to on-call; want 1", n)
	}
}

// Behind a trusted proxy each client has its own allowance; a client
// guessing API keys is refused while the app's right key still works.
func manyAddresses(t *testing.T, bin string) {
	w := startLimitsWorld(t, bin, "[127.0.0.1]", "")
	passed := map[string]int{}
	for i := range 8 {
		client := fmt.Sprintf("198.51.100.%d", i+1)
		for j := range 8 {
			email := fmt.Sprintf("buyer%d-%d@example.com", i, j) // a new checkout each time
			resp := w.send(t, http.MethodPost, "/buy/pro-annual", url.Values{"email": {email}}, map[string]string{"X-Forwarded-For": "6.6.6.6, " + client})
			if resp.status == http.StatusSeeOther {
				passed[client]++
			} else if resp.status != http.StatusTooManyRequests {
				t.Fatalf("status %d:\n%s", resp.status, resp.body)
			}
		}
	}
	total := 0
	for client, n := range passed {
		if n < 5 || n > 6 {
			t.Errorf("%s: %d purchases went through; want its own burst of 5", client, n)
		}
		total += n
	}
	if len(passed) != 8 || w.calls.count(http.MethodPost, "/v1/checkout/sessions") != total {
		t.Fatalf("clients %v; processor checkouts %d", passed, w.calls.count(http.MethodPost, "/v1/checkout/sessions"))
	}

	guesser := map[string]string{"Authorization": "Bearer guess", "X-Forwarded-For": "203.0.113.50"}
	app := map[string]string{"Authorization": "Bearer " + limitsAPIKey, "X-Forwarded-For": "192.0.2.80"}
	for range 25 {
		w.send(t, http.MethodGet, "/api/v1/access?email=a@example.com", nil, guesser)
	}
	if s := w.send(t, http.MethodGet, "/api/v1/access?email=a@example.com", nil, guesser).status; s != http.StatusTooManyRequests {
		t.Fatalf("the guesser got %d", s)
	}
	for range 100 {
		if s := w.send(t, http.MethodGet, "/api/v1/access?email=a@example.com", nil, app).status; s != http.StatusOK {
			t.Fatalf("the app's right key got %d", s)
		}
	}
}

// Many addresses buy at once for a few seconds; paidup's calls to the
// processor stay within its budget each second, and the customers it
// cannot serve in time read the calm page at once.
func budgetHolds(t *testing.T, bin string) {
	const perSecond = 4
	w := startLimitsWorld(t, bin, "[127.0.0.1]", fmt.Sprintf("limits:\n  processor:\n    reads_per_second: %d\n    writes_per_second: %d\n    customer_wait: 300ms\n", perSecond, perSecond))
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 40 {
		wg.Go(func() {
			for j := 0; time.Since(start) < 4*time.Second; j++ {
				// A new customer each time: no one address's own limit.
				client := fmt.Sprintf("198.51.%d.%d", i, j)
				email := fmt.Sprintf("buyer%d-%d@example.com", i, j)
				resp := w.send(t, http.MethodPost, "/buy/pro-annual", url.Values{"email": {email}}, map[string]string{"X-Forwarded-For": client})
				mu.Lock()
				statuses[resp.status]++
				mu.Unlock()
				if resp.status == http.StatusTooManyRequests && !strings.Contains(resp.body, "nothing was charged for it") {
					t.Errorf("%s: 429 without the calm words:\n%s", client, resp.body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	writes, reads := w.calls.mostInASecond(http.MethodPost), w.calls.mostInASecond(http.MethodGet)
	total := w.calls.count(http.MethodPost, "")
	t.Logf("buys from many addresses for %s: %v; the processor saw %d writes in all, at most %d writes and %d reads in any second (writes by second: %v)",
		elapsed.Round(time.Millisecond), statuses, total, writes, reads, w.calls.bySecond(http.MethodPost))
	// The budget's burst is one call; one more for calls granted just
	// apart arriving closer together.
	if writes > perSecond+2 || reads > perSecond+2 {
		t.Fatalf("the processor saw %d writes and %d reads in one second; the budget is %d each", writes, reads, perSecond)
	}
	if float64(total) > perSecond*elapsed.Seconds()+2 {
		t.Fatalf("%d writes in %s; the budget is %d a second", total, elapsed, perSecond)
	}
	if statuses[http.StatusSeeOther] < 10 || statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("want customers served at the budget's rate and the rest turned away: %v", statuses)
	}
	if n := w.calls.count(http.MethodPost, "/v1/checkout/sessions"); n != statuses[http.StatusSeeOther] {
		t.Fatalf("%d checkout sessions for %d customers sent to pay", n, statuses[http.StatusSeeOther])
	}
	m := w.send(t, http.MethodGet, "/metrics", nil, nil).body
	requireContains(t, m, fmt.Sprintf(`paidup_requests_limited_total{limit="processor_budget"} %d`, statuses[http.StatusTooManyRequests]))
	if !regexp.MustCompile(`paidup_processor_budget_refused_total\{kind="write"\} [1-9]`).MatchString(m) {
		t.Fatal("the budget's refusals are not counted")
	}
}

// With the limits turned off, a flood goes through.
func limitsOff(t *testing.T, bin string) {
	w := startLimitsWorld(t, bin, "", "limits:\n  enabled: false\n")
	for i := range 20 {
		if s := w.send(t, http.MethodPost, "/buy/pro-annual", url.Values{"email": {fmt.Sprintf("flood%d@example.com", i)}}, nil).status; s != http.StatusSeeOther {
			t.Fatalf("status %d with limits off", s)
		}
	}
	if n := w.calls.count(http.MethodPost, "/v1/checkout/sessions"); n != 20 {
		t.Fatalf("%d checkout sessions; want 20", n)
	}
}

// A bad limits section stops paidup at start with the file, line and
// reason, before anything is written.
func badLimitsRefused(t *testing.T, bin string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "paidup.yaml")
	writeLimitsConfig(t, path, limitsConfig{listen: "127.0.0.1:0", dbURL: "sqlite:" + filepath.Join(dir, "paidup.db"), apiURL: "http://127.0.0.1:1",
		smtp: "smtp://127.0.0.1:1", trusted: "[10.0.0.0/40]", extra: "limits:\n  checkout:\n    per_minute: -1\n"})
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env = childEnv("")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("paidup started with a bad limits section:\n%s", out)
	}
	data, _ := os.ReadFile(path)
	line := 1 + strings.Count(string(data[:strings.Index(string(data), "per_minute: -1")]), "\n")
	requireContains(t, string(out), path+`:3: server.trusted_proxies[0]: "10.0.0.0/40" is not an address or a CIDR prefix`,
		fmt.Sprintf("%s:%d: limits.checkout.per_minute: want at least 1", path, line))
	if _, err := os.Stat(filepath.Join(dir, "paidup.db")); !os.IsNotExist(err) {
		t.Fatal("a database was written")
	}
}

func requireContains(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("no %q in:\n%s", w, s)
		}
	}
}

// limitsWorld is paidup under test, the processor it talks to and the
// proxy between them.
type limitsWorld struct {
	shop, dbURL string
	calls       *callCounter
}

// startLimitsWorld starts `paidup sandbox`, the counting proxy in front
// of it, and `paidup serve` with trusted proxies and extra configuration.
func startLimitsWorld(t *testing.T, bin, trusted, extra string) *limitsWorld {
	t.Helper()
	dir := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(crashPort(t))
	w := &limitsWorld{shop: "http://" + listen, dbURL: "sqlite:" + filepath.Join(dir, "paidup.db"), calls: &callCounter{}}
	// The sandbox reads the plans from the same file; it needs no mail
	// server of paidup's.
	cfg := limitsConfig{listen: listen, dbURL: w.dbURL, smtp: "smtp://127.0.0.1:1", trusted: trusted, extra: extra}

	sbConfig := filepath.Join(dir, "sandbox.yaml")
	writeLimitsConfig(t, sbConfig, cfg)
	sbLog := filepath.Join(dir, "sandbox.log")
	sb := startChildProc(t, bin, sbLog, childEnv(""), "sandbox", "--config", sbConfig,
		"--sandbox-listen", "127.0.0.1:0", "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"),
		"--webhook-url", w.shop+"/webhooks/stripe", "--webhook-secret", limitsWebhookKey, "--smtp-listen", "127.0.0.1:0", "--log-level", "warn")
	sandboxURL := waitForLine(t, sb, sbLog, regexp.MustCompile(`API:\s+(http://127\.0\.0\.1:\d+)/v1`))
	cfg.smtp = waitForLine(t, sb, sbLog, regexp.MustCompile(`Mail:\s+(smtp://127\.0\.0\.1:\d+)`))
	waitChildHealthy(t, sb, sandboxURL+"/healthz", sbLog)

	target, _ := url.Parse(sandboxURL)
	proxy := httptest.NewServer(w.calls.wrap(httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(proxy.Close)
	cfg.apiURL = proxy.URL

	cfgPath := filepath.Join(dir, "paidup.yaml")
	writeLimitsConfig(t, cfgPath, cfg)
	logPath := filepath.Join(dir, "paidup.log")
	p := startChildProc(t, bin, logPath, childEnv(""), "serve", "--config", cfgPath)
	waitChildHealthy(t, p, w.shop+"/healthz", logPath)
	return w
}

type limitsResponse struct {
	status int
	header http.Header
	body   string
}

// send makes a request as a client would, without following redirects.
func (w *limitsWorld) send(t *testing.T, method, path string, form url.Values, headers map[string]string) limitsResponse {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, w.shop+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := customerClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return limitsResponse{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// callCounter records each call that passes through to the processor.
type callCounter struct {
	mu    sync.Mutex
	calls []processorCall
}

type processorCall struct {
	method, path string
	at           time.Time
}

func (c *callCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			c.mu.Lock()
			c.calls = append(c.calls, processorCall{r.Method, r.URL.Path, time.Now()})
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// count is how many calls of method to path (any, if empty) were made.
func (c *callCounter) count(method, path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, call := range c.calls {
		if call.method == method && (path == "" || call.path == path) {
			n++
		}
	}
	return n
}

// bySecond counts the calls of method in each wall-clock second.
func (c *callCounter) bySecond(method string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var counts []int
	var first int64
	for _, call := range c.calls {
		if call.method != method {
			continue
		}
		sec := call.at.Unix()
		if counts == nil {
			first = sec
		}
		for int64(len(counts)) <= sec-first {
			counts = append(counts, 0)
		}
		counts[sec-first]++
	}
	return counts
}

// mostInASecond is the most calls of method within any one second.
func (c *callCounter) mostInASecond(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at []time.Time
	for _, call := range c.calls {
		if call.method == method {
			at = append(at, call.at)
		}
	}
	most := 0
	for i := range at {
		n := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

// limitsConfig is what differs between the tests' configuration files.
type limitsConfig struct {
	listen, dbURL, apiURL, smtp string
	trusted                     string // server.trusted_proxies, as YAML
	extra                       string // appended: a limits section
}

// writeLimitsConfig writes paidup's configuration: Stripe at apiURL (the
// counting proxy before the sandbox), the sandbox's mailbox for mail, the
// access API on, and the shipped limits unless extra says otherwise.
func writeLimitsConfig(t *testing.T, path string, c limitsConfig) {
	t.Helper()
	if c.trusted == "" {
		c.trusted = "[]"
	}
	cfg := fmt.Sprintf(`server:
  listen: %s
  trusted_proxies: %s
database:
  url: %q
business:
  name: Limits Community
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
  - id: pro-monthly
    name: Pro, monthly
    tier: pro
    price: price_pro_monthly
    amount: "19.00"
    currency: usd
    interval: month
smtp:
  url: %q
  from: Limits Community <billing@example.com>
oncall:
  emails: [oncall@example.com]
api:
  keys: [%s]
%s`, c.listen, c.trusted, c.dbURL, limitsStripeKey, limitsWebhookKey, c.apiURL, c.smtp, limitsAPIKey, c.extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}
