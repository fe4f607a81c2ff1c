package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/console"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/operator"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/support"
)

const cookieName = "__Host-paidup_console"

type testBundle struct {
	store   *store.Store
	ops     *operator.Service
	handler http.Handler
	setup   operator.Setup
	desk    *support.Service

	mu  sync.Mutex
	now time.Time
}

func (b *testBundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func (b *testBundle) advance(d time.Duration) {
	b.mu.Lock()
	b.now = b.now.Add(d)
	b.mu.Unlock()
}

var policy = &paidup.Policy{Tiers: []paidup.Tier{{ID: "pro", Name: "Pro", Rank: 10}}}

// setup is a console on a fresh database of engine, with one operator,
// ada@example.com.
func setup(t testing.TB, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{now: time.Date(2026, 12, 4, 9, 0, 10, 0, time.UTC)}
	b.store, err = store.New(db, b.clock)
	require.NoError(t, err)
	b.ops = &operator.Service{Store: b.store, Issuer: "Example Co", IdleTimeout: time.Hour, Lifetime: 12 * time.Hour, Now: b.clock}
	b.setup, err = b.ops.Add(ctx, "ada@example.com")
	require.NoError(t, err)
	set, err := replies.Load("")
	require.NoError(t, err)
	outbox := &notify.Outbox{}
	desk := &support.Service{Store: b.store, Policy: policy, Notify: outbox, Replies: set,
		Lifecycle:   &lifecycle.Service{Store: b.store, Policy: policy, Notify: outbox, Logger: slog.New(slog.DiscardHandler)},
		ReplyFields: replies.Fields{Business: "Example Co", SupportEmail: "help@example.com", ReplyWithin: "one working day"}}
	b.desk = desk
	b.handler = console.NewServer(console.Deps{Store: b.store, Operators: b.ops, Support: desk, Policy: policy, Business: "Example Co", Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		PublicURL: "https://paidup.example.com", Now: b.clock, Delays: console.NewDelays(b.clock)})
	return b
}

type request struct {
	method, path string
	form         url.Values
	cookie       string
	header       map[string]string
	remote       string
}

func (b *testBundle) do(t testing.TB, r request) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(r.method, "https://paidup.example.com"+r.path, body)
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if r.method == http.MethodPost {
		// What a browser sends with a form of the console's own.
		req.Header.Set("Origin", "https://paidup.example.com")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if r.cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: r.cookie})
	}
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	w := httptest.NewRecorder()
	b.handler.ServeHTTP(w, req)
	return w
}

var pendingField = regexp.MustCompile(`name="pending" value="([^"]+)"`)

// password posts the sign-in form's first step, and returns the pending
// token of the second, if any.
func (b *testBundle) password(t testing.TB, email, password, remote string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	w := b.do(t, request{method: "POST", path: "/console/sign-in", form: url.Values{"email": {email}, "password": {password}}, remote: remote})
	m := pendingField.FindStringSubmatch(w.Body.String())
	if m == nil {
		return w, ""
	}
	return w, m[1]
}

func (b *testBundle) code(t testing.TB, pending, code string) *httptest.ResponseRecorder {
	t.Helper()
	return b.do(t, request{method: "POST", path: "/console/sign-in/code", form: url.Values{"pending": {pending}, "code": {code}}})
}

func (b *testBundle) totp(t testing.TB) string {
	t.Helper()
	c, err := totp.GenerateCode(b.setup.TOTPSecret, b.clock())
	require.NoError(t, err)
	return c
}

// signIn signs ada in, a fresh TOTP step each time, and returns the
// session cookie's value.
func (b *testBundle) signIn(t testing.TB) string {
	t.Helper()
	b.advance(30 * time.Second)
	w, pending := b.password(t, "ada@example.com", b.setup.Password, "")
	require.NotEmpty(t, pending, w.Body.String())
	w = b.code(t, pending, b.totp(t))
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	require.Equal(t, "/console/", w.Header().Get("Location"))
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieName {
			require.True(t, c.Secure)
			require.True(t, c.HttpOnly)
			require.Equal(t, http.SameSiteStrictMode, c.SameSite)
			require.Equal(t, "/", c.Path)
			require.Empty(t, c.Domain)
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// hostile is what a customer might type, hoping a console page runs it.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

// customer is a customer with markup in everything they typed, a grant of
// Pro, an open case, and n timeline entries.
func (b *testBundle) customer(t testing.TB, n int) string {
	t.Helper()
	ctx := context.Background()
	var id string
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if id, _, err = tx.MatchCustomer(ctx, "stripe", "cus_"+hostile, `mallory+`+hostile+`@example.com`); err != nil {
			return err
		}
		if _, _, err := tx.InsertGrant(ctx, paidup.Grant{CustomerID: id, Tier: "pro", PlanID: "pro-annual", Source: paidup.SourcePurchase,
			SourceRef: "stripe:pi_" + hostile, Start: b.clock().Add(-time.Hour), End: b.clock().Add(365 * 24 * time.Hour)}); err != nil {
			return err
		}
		if _, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "case:" + id, CustomerID: id, Reference: "PU-7K3M-Q9XD",
			Kind: paidup.CaseUnconfirmed, Summary: "The customer wrote: " + hostile, Stake: paidup.Money{Amount: 24900, Currency: "usd"}}); err != nil {
			return err
		}
		for i := range n {
			if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: id, Kind: paidup.EventEmail, Source: paidup.BySystem,
				Summary: fmt.Sprintf("entry %d %s", i+1, hostile)}); err != nil {
				return err
			}
		}
		return nil
	}))
	return id
}

// caseOf is the customer's open case.
func (b *testBundle) caseOf(t testing.TB, customerID string) string {
	t.Helper()
	cases, err := b.store.CustomerOpenCases(context.Background(), customerID)
	require.NoError(t, err)
	require.Len(t, cases, 1)
	return cases[0].ID
}

func requireEscaped(t *testing.T, body string) {
	t.Helper()
	require.NotContains(t, body, "<script>alert")
	require.NotContains(t, body, "<img src=x")
	require.Contains(t, body, "&lt;script&gt;")
}

// Every console route, signed out, signed in, from another site, with an
// expired and a revoked session.
func TestRoutes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		customer := b.customer(t, 3)
		type want struct {
			status   int
			location string
			contains []string
		}
		caseID := b.caseOf(t, customer)
		page := "/console/customers/" + customer
		form := func(kv ...string) url.Values {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v
		}
		routes := []struct {
			name, method, path  string
			form                url.Values
			signedOut, signedIn want
		}{
			{"sign-in form", "GET", "/console/sign-in", nil,
				want{200, "", []string{`action="/console/sign-in"`, `type="password"`}}, want{200, "", []string{"Sign in to the console"}}},
			{"cases", "GET", "/console/", nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"Open cases", "PU-7K3M-Q9XD", "$249.00 at stake", `href="/console/customers/` + customer + `"`, "ada@example.com"}}},
			{"customer", "GET", "/console/customers/" + customer, nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"Yes: Pro", "entry 3", "The customer wrote:"}}},
			{"no such customer", "GET", "/console/customers/cu_nobody", nil,
				want{303, "/console/sign-in", nil}, want{404, "", []string{"We could not find that page"}}},
			{"a bad timeline page", "GET", "/console/customers/" + customer + "?before=x", nil,
				want{303, "/console/sign-in", nil}, want{400, "", []string{"not a page of this customer"}}},
			{"search, one customer found", "GET", "/console/search?q=" + customer, nil,
				want{303, "/console/sign-in", nil}, want{303, "/console/customers/" + customer, nil}},
			{"search, nothing found", "GET", "/console/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"Nothing matches", "&lt;script&gt;alert(1)&lt;/script&gt;"}}},
			{"search form", "GET", "/console/search", nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{`name="q"`, "a processor id"}}},
			{"nothing here", "GET", "/console/nothing", nil,
				want{303, "/console/sign-in", nil}, want{404, "", []string{"nothing at this address"}}},
			{"case", "GET", "/console/cases/" + caseID, nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"Recover: ask the processor now", "Start from a reply template", "The customer wrote:", "$249.00 at stake"}}},
			{"no such case", "GET", "/console/cases/sc_nope", nil,
				want{303, "/console/sign-in", nil}, want{404, "", []string{"We could not find that page"}}},
			{"the account view, not given", "GET", page + "/account", nil,
				want{303, "/console/sign-in", nil}, want{404, "", []string{"nothing at this address"}}},
			{"no such checkout", "GET", "/console/checkouts/PU-0000-0000", nil,
				want{303, "/console/sign-in", nil}, want{404, "", []string{"We could not find that page"}}},
			{"recovering no checkout", "POST", "/console/checkouts/" + url.PathEscape(hostile) + "/recover", form("request", "rq_recover_checkout"),
				want{303, "/console/sign-in", nil}, want{404, "", []string{"We could not find that page"}}},
			{"a group", "GET", "/console/groups/unconfirmed", nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"Recover them all", "Recover them now (1)", "The customer wrote:"}}},
			{"a group with no bulk action", "GET", "/console/groups/" + url.PathEscape(hostile), nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"No one action fixes every case", "&lt;script&gt;"}}},
			{"a bulk action unpreviewed", "POST", "/console/groups/unconfirmed", form("request", "rq_bulk"),
				want{303, "/console/sign-in", nil}, want{400, "", []string{"Preview the action first"}}},
			{"a note", "POST", page + "/note", form("request", "rq_note", "note", "Called them: "+hostile),
				want{303, "/console/sign-in", nil}, want{303, page + "?done=rq_note#outcome", nil}},
			{"a note with nothing in it", "POST", page + "/note", form("request", "rq_note_empty", "note", "  "),
				want{303, "/console/sign-in", nil}, want{400, "", []string{"A note needs text"}}},
			{"a note without a request", "POST", page + "/note", form("note", "hello"),
				want{303, "/console/sign-in", nil}, want{400, "", []string{"A request needs an id"}}},
			{"a grant without a reason", "POST", page + "/grant", form("request", "rq_grant_noreason", "tier", "pro", "until", "2027-01-31"),
				want{303, "/console/sign-in", nil}, want{400, "", []string{"Say why"}}},
			{"a grant of no tier", "POST", page + "/grant", form("request", "rq_grant_notier", "tier", hostile, "until", "2027-01-31", "reason", "goodwill"),
				want{303, "/console/sign-in", nil}, want{400, "", []string{"No tier", "&lt;script&gt;"}}},
			{"a grant until no day", "POST", page + "/grant", form("request", "rq_grant_noday", "tier", "pro", "until", "tomorrow", "reason", "goodwill"),
				want{303, "/console/sign-in", nil}, want{400, "", []string{"until which day"}}},
			{"a grant", "POST", page + "/grant", form("request", "rq_grant", "tier", "pro", "until", "2027-01-31", "reason", "goodwill"),
				want{303, "/console/sign-in", nil}, want{303, page + "?done=rq_grant#outcome", nil}},
			{"ending no grant", "POST", page + "/end-grant", form("request", "rq_end_nothing", "grant", "gr_nope", "reason", "mistake"),
				want{303, "/console/sign-in", nil}, want{404, "", []string{"no grant"}}},
			{"a block", "POST", page + "/block", form("request", "rq_block", "reason", "chargeback fraud"),
				want{303, "/console/sign-in", nil}, want{303, page + "?done=rq_block#outcome", nil}},
			{"a lift", "POST", page + "/lift", form("request", "rq_lift", "reason", "the bank sided with us"),
				want{303, "/console/sign-in", nil}, want{303, page + "?done=rq_lift#outcome", nil}},
			{"resending what was never sent", "POST", page + "/resend", form("request", "rq_resend", "email", "em_nope"),
				want{303, "/console/sign-in", nil}, want{404, "", []string{"no email em_nope"}}},
			{"recovering without the processor", "POST", page + "/recover", form("request", "rq_recover"),
				want{303, "/console/sign-in", nil}, want{503, "", []string{"needs the payment processor"}}},
			{"refunding no payment", "GET", page + "/refund?payment=pi_nope", nil,
				want{303, "/console/sign-in", nil}, want{404, "", []string{"no payment"}}},
			{"previewing the refund of no payment", "POST", page + "/refund/preview", form("payment", "pi_nope", "reason", "x"),
				want{303, "/console/sign-in", nil}, want{404, "", []string{"no payment"}}},
			{"refunding no payment, previewed", "POST", page + "/refund", form("request", "rq_refund", "payment", "pi_nope", "reason", "x"),
				want{303, "/console/sign-in", nil}, want{404, "", []string{"no payment"}}},
			{"a reply previewed", "POST", "/console/cases/" + caseID + "/reply/preview", form("template", "access_restored"),
				want{303, "/console/sign-in", nil}, want{200, "", []string{"as it will be sent", "Send this reply", "To mallory&#43;&lt;script&gt;"}}},
			{"a reply from no template", "POST", "/console/cases/" + caseID + "/reply/preview", form("template", hostile),
				want{303, "/console/sign-in", nil}, want{400, "", []string{"no reply template named"}}},
			{"a reply", "POST", "/console/cases/" + caseID + "/reply", form("request", "rq_reply", "template", "access_restored"),
				want{303, "/console/sign-in", nil}, want{303, "/console/cases/" + caseID + "?done=rq_reply#outcome", nil}},
			{"a resolve", "POST", "/console/cases/" + caseID + "/resolve", form("request", "rq_resolve", "answer", "Restored."),
				want{303, "/console/sign-in", nil}, want{303, "/console/cases/" + caseID + "?done=rq_resolve#outcome", nil}},
			{"on call, not set up", "GET", "/console/oncall", nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"On call is not set up"}}},
			{"an override, not set up", "POST", "/console/oncall/overrides", form("request", "rq_ov", "who", "ada@example.com"),
				want{303, "/console/sign-in", nil}, want{503, "", []string{"On call is not set up"}}},
			{"the audit log", "GET", "/console/audit", nil,
				want{303, "/console/sign-in", nil}, want{200, "", []string{"Audit log", "goodwill", "chargeback fraud", "Resolved " + caseID}}},
			{"a bad audit page", "GET", "/console/audit?before=-1", nil,
				want{303, "/console/sign-in", nil}, want{400, "", []string{"not a page of the audit log"}}},
			{"sign out", "POST", "/console/sign-out", nil,
				want{303, "/console/sign-in", nil}, want{303, "/console/sign-in?signed-out=here", nil}},
			{"sign out everywhere", "POST", "/console/sign-out-everywhere", nil,
				want{303, "/console/sign-in", nil}, want{303, "/console/sign-in?signed-out=everywhere", nil}},
		}
		check := func(t *testing.T, w *httptest.ResponseRecorder, want want) {
			t.Helper()
			require.Equal(t, want.status, w.Code, w.Body.String())
			require.Equal(t, want.location, w.Header().Get("Location"))
			for _, s := range want.contains {
				require.Contains(t, w.Body.String(), s)
			}
			if w.Code == 200 || w.Code >= 400 {
				require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
				require.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
				require.Contains(t, w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")
				require.Equal(t, "max-age=31536000", w.Header().Get("Strict-Transport-Security"))
				requireEscapedIfCustomer(t, w.Body.String())
			}
		}
		for _, rt := range routes {
			t.Run(rt.name, func(t *testing.T) {
				check(t, b.do(t, request{method: rt.method, path: rt.path, form: rt.form}), rt.signedOut)
				check(t, b.do(t, request{method: rt.method, path: rt.path, form: rt.form, cookie: "not-a-session"}), rt.signedOut)
				session := b.signIn(t)
				check(t, b.do(t, request{method: rt.method, path: rt.path, form: rt.form, cookie: session}), rt.signedIn)

				if rt.method == "POST" {
					// From another site: refused, and nothing done.
					other := b.signIn(t)
					for _, h := range []map[string]string{
						{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
						{"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
						{"Sec-Fetch-Site": "same-site", "Origin": "https://shop.paidup.example.com"},
					} {
						w := b.do(t, request{method: rt.method, path: rt.path, form: rt.form, cookie: other, header: h})
						require.Equal(t, http.StatusForbidden, w.Code, h)
						require.Contains(t, w.Body.String(), "sent from another site")
					}
					w := b.do(t, request{method: "GET", path: "/console/", cookie: other})
					require.Equal(t, http.StatusOK, w.Code, "the session a cross-site post named is still signed in")
				}

				// An expired session, idle too long.
				expired := b.signIn(t)
				b.advance(61 * time.Minute)
				w := b.do(t, request{method: rt.method, path: rt.path, form: rt.form, cookie: expired})
				check(t, w, rt.signedOut)
				if w.Code == http.StatusSeeOther {
					require.Contains(t, w.Header().Get("Set-Cookie"), cookieName+"=;", "the ended session's cookie is forgotten")
				}

				// A revoked session: another of the operator's signed out
				// everywhere.
				revoked, by := b.signIn(t), b.signIn(t)
				require.Equal(t, http.StatusSeeOther, b.do(t, request{method: "POST", path: "/console/sign-out-everywhere", cookie: by}).Code)
				check(t, b.do(t, request{method: rt.method, path: rt.path, form: rt.form, cookie: revoked}), rt.signedOut)
			})
		}
	})
}

func requireEscapedIfCustomer(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "mallory") || strings.Contains(body, "The customer wrote") {
		requireEscaped(t, body)
	}
}

// What customers typed is shown as text on every page that shows it.
func TestHostileInput(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		customer := b.customer(t, 2)
		session := b.signIn(t)
		for _, path := range []string{"/console/", "/console/customers/" + customer} {
			w := b.do(t, request{method: "GET", path: path, cookie: session})
			require.Equal(t, 200, w.Code)
			requireEscaped(t, w.Body.String())
		}
		w := b.do(t, request{method: "GET", path: "/console/customers/" + customer, cookie: session})
		require.Contains(t, w.Body.String(), "mallory&#43;&lt;script&gt;")

		// The sign-in form gives back what was typed, as text.
		w, _ = b.password(t, `"><script>alert("x")</script>@example.com`, hostile, "")
		require.Equal(t, http.StatusUnauthorized, w.Code)
		require.NotContains(t, w.Body.String(), `"><script>`)
		require.NotContains(t, w.Body.String(), hostile)
		w = b.code(t, `"><script>alert(1)</script>`, hostile)
		require.Equal(t, http.StatusUnauthorized, w.Code)
		require.NotContains(t, w.Body.String(), "<script>alert")
		w = b.do(t, request{method: "GET", path: "/console/customers/" + url.PathEscape(hostile), cookie: session})
		require.Equal(t, http.StatusNotFound, w.Code)
		require.NotContains(t, w.Body.String(), "<script>alert")
	})
}

// The customer page pages through the timeline by entry, newest first.
func TestTimelinePages(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		customer := b.customer(t, 120)
		session := b.signIn(t)
		older := regexp.MustCompile(`href="(/console/customers/[^"]+before=\d+)#timeline" rel="next"`)
		entry := regexp.MustCompile(`entry (\d+) `)
		path := "/console/customers/" + customer
		var seen []string
		for page := 1; ; page++ {
			w := b.do(t, request{method: "GET", path: path, cookie: session})
			require.Equal(t, 200, w.Code)
			body := w.Body.String()
			var here []string
			for _, m := range entry.FindAllStringSubmatch(body, -1) {
				here = append(here, m[1])
			}
			want := 50
			if page == 3 {
				want = 20
			}
			require.Len(t, here, want, "page %d", page)
			seen = append(seen, here...)
			if page > 1 {
				require.Contains(t, body, `href="/console/customers/`+customer+`#timeline">Newest`)
			}
			m := older.FindStringSubmatch(body)
			if page == 3 {
				require.Nil(t, m, "the last page leads nowhere older")
				break
			}
			require.NotNil(t, m, "page %d leads to older entries", page)
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		require.Equal(t, "120", seen[0], "newest first")
		require.Equal(t, "1", seen[119])
		for i := 1; i < len(seen); i++ {
			require.NotEqual(t, seen[i-1], seen[i])
		}
	})
}

// A customer's session never opens the console, and an operator's is no
// customer's.
func TestSessionsDoNotMix(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		customer := b.customer(t, 0)
		link, err := b.store.CreateSignInLink(ctx, customer, time.Hour)
		require.NoError(t, err)
		customerSession, _, err := b.store.UseSignInLink(ctx, link, time.Hour)
		require.NoError(t, err)
		w := b.do(t, request{method: "GET", path: "/console/", cookie: customerSession})
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/console/sign-in", w.Header().Get("Location"))
		req := httptest.NewRequest("GET", "/console/", nil)
		req.AddCookie(&http.Cookie{Name: "paidup_session", Value: customerSession})
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, req)
		require.Equal(t, http.StatusSeeOther, rec.Code, "the customers' cookie is not the console's")

		operatorSession := b.signIn(t)
		_, err = b.store.SessionCustomer(ctx, operatorSession)
		require.Error(t, err, "an operator's session is no customer's")
	})
}

// A TOTP code signs in once; a recovery code too; a wrong code leaves the
// pending sign-in to try again, until too many were wrong.
func TestSecondFactor(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		_, pending := b.password(t, "ada@example.com", b.setup.Password, "")
		code := b.totp(t)
		require.Equal(t, http.StatusSeeOther, b.code(t, pending, code).Code)

		_, pending = b.password(t, "ada@example.com", b.setup.Password, "")
		w := b.code(t, pending, code)
		require.Equal(t, http.StatusUnauthorized, w.Code, "the same code again, within its 30 seconds")
		require.Contains(t, w.Body.String(), "used already")
		require.Contains(t, w.Body.String(), `name="pending" value="`+pending+`"`, "the code may be typed again")

		rc := b.setup.RecoveryCodes[0]
		require.Equal(t, http.StatusSeeOther, b.code(t, pending, rc).Code)
		_, pending = b.password(t, "ada@example.com", b.setup.Password, "")
		require.Equal(t, http.StatusUnauthorized, b.code(t, pending, rc).Code, "a recovery code works once")

		_, pending = b.password(t, "ada@example.com", b.setup.Password, "")
		for range 4 {
			require.Equal(t, http.StatusUnauthorized, b.code(t, pending, "111111").Code)
		}
		w = b.code(t, pending, "111111")
		require.Contains(t, w.Body.String(), "sign in again")
		require.NotContains(t, w.Body.String(), `name="pending"`)
	})
}

// Failed sign-ins make the account, and the client, wait longer each
// time; an unknown address is answered as a wrong password is.
func TestGrowingDelays(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		fail := func(email, remote string) int {
			w, _ := b.password(t, email, "wrong", remote)
			return w.Code
		}
		// The account: three tries free, then 1 s, 2 s, 4 s …
		for i := range 3 {
			require.Equal(t, http.StatusUnauthorized, fail("ada@example.com", fmt.Sprintf("198.51.100.%d:1", i)))
		}
		w, _ := b.password(t, "ada@example.com", b.setup.Password, "198.51.100.9:1")
		require.Equal(t, http.StatusTooManyRequests, w.Code, "even the right password waits")
		require.Equal(t, "1", w.Header().Get("Retry-After"))
		b.advance(time.Second)
		require.Equal(t, http.StatusUnauthorized, fail("ADA@example.com", "198.51.100.10:1"))
		b.advance(1500 * time.Millisecond)
		require.Equal(t, http.StatusTooManyRequests, fail("ada@example.com", "198.51.100.11:1"))
		b.advance(500 * time.Millisecond)
		require.Equal(t, http.StatusUnauthorized, fail("ada@example.com", "198.51.100.12:1"))
		w, _ = b.password(t, "ada@example.com", b.setup.Password, "198.51.100.13:1")
		require.Equal(t, "4", w.Header().Get("Retry-After"))

		// An unknown address waits the same.
		for i := range 3 {
			require.Equal(t, http.StatusUnauthorized, fail("nobody@example.com", fmt.Sprintf("203.0.113.%d:1", i)))
		}
		require.Equal(t, http.StatusTooManyRequests, fail("nobody@example.com", "203.0.113.9:1"))
		unknown, _ := b.password(t, "bob@example.com", "wrong", "203.0.113.20:1")
		wrong, _ := b.password(t, "sam@example.com", "wrong", "203.0.113.21:1")
		require.Equal(t, strings.ReplaceAll(unknown.Body.String(), "bob@", "sam@"), wrong.Body.String())

		// The client: ten tries free, whatever addresses they name.
		for i := range 10 {
			require.Equal(t, http.StatusUnauthorized, fail(fmt.Sprintf("guess%d@example.com", i), "192.0.2.1:1"))
		}
		require.Equal(t, http.StatusTooManyRequests, fail("guess-more@example.com", "192.0.2.1:1"))
		require.Equal(t, http.StatusUnauthorized, fail("guess-more@example.com", "192.0.2.2:1"), "another client is not held back")

		// A sign-in clears the account's failures.
		b.advance(time.Hour)
		b.signIn(t)
		require.Equal(t, http.StatusUnauthorized, fail("ada@example.com", "198.51.100.30:1"))
		require.Equal(t, http.StatusUnauthorized, fail("ada@example.com", "198.51.100.31:1"))
	})
}

// From the inbox, an operator takes a case (the other sees who is on it),
// marks it waiting on the customer, or snoozes it out of the inbox; each
// pressed twice is once, and each is refused signed out, cross-site, for
// a case that does not exist, and for a resolved one.
func TestTriageFromTheInbox(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		b.customer(t, 1)
		cases, err := b.store.OpenCases(context.Background())
		require.NoError(t, err)
		require.NotEmpty(t, cases)
		id := cases[0].ID
		session := b.signIn(t)
		post := func(path string, form url.Values, header map[string]string) *httptest.ResponseRecorder {
			return b.do(t, request{method: "POST", path: path, form: form, cookie: session, header: header})
		}
		inbox := func() string {
			return b.do(t, request{method: "GET", path: "/console/", cookie: session}).Body.String()
		}
		require.Contains(t, inbox(), `action="/console/cases/`+id+`/take"`)

		for range 2 {
			w := post("/console/cases/"+id+"/take", nil, nil)
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
			require.Equal(t, "/console/", w.Header().Get("Location"))
		}
		require.Contains(t, inbox(), "ada@example.com is on it")
		require.Equal(t, http.StatusSeeOther, post("/console/cases/"+id+"/wait", nil, nil).Code)
		require.Contains(t, inbox(), "waiting on the customer")

		require.Equal(t, http.StatusBadRequest, post("/console/cases/"+id+"/snooze", url.Values{"for": {"forever"}}, nil).Code)
		require.Equal(t, http.StatusSeeOther, post("/console/cases/"+id+"/snooze", url.Values{"for": {"4h"}}, nil).Code)
		require.NotContains(t, inbox(), `action="/console/cases/`+id+`/take"`, "snoozed: out of the inbox")
		b.advance(4*time.Hour + time.Minute)
		session = b.signIn(t)
		require.Contains(t, inbox(), `action="/console/cases/`+id+`/take"`, "back when the snooze ends")

		w := post("/console/cases/"+id+"/take", nil, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
		require.Equal(t, http.StatusForbidden, w.Code)
		w = b.do(t, request{method: "POST", path: "/console/cases/" + id + "/take"})
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/console/sign-in", w.Header().Get("Location"))
		require.Equal(t, http.StatusNotFound, post("/console/cases/sc_nope/take", nil, nil).Code)
		require.NoError(t, b.store.InTx(context.Background(), func(tx *store.Tx) error {
			_, _, err := tx.ResolveCase(context.Background(), id, "sam", "done")
			return err
		}))
		require.Equal(t, http.StatusConflict, post("/console/cases/"+id+"/take", nil, nil).Code)

		timeline, err := b.store.Timeline(context.Background(), cases[0].CustomerID, "")
		require.NoError(t, err)
		var triaged int
		for _, e := range timeline {
			if strings.HasPrefix(e.Summary, "Support case taken by ada@example.com") {
				triaged++
			}
		}
		require.Equal(t, 1, triaged, "taken twice: once on the timeline")
		entries, err := b.store.AuditLog(context.Background(), "", 0, 100)
		require.NoError(t, err)
		var taken int
		for _, e := range entries {
			if e.Action == paidup.ActionTriage && e.Data["how"] == "take" && e.Target == id && e.Actor == "ada@example.com" {
				taken++
			}
		}
		require.Equal(t, 1, taken, "and once on the audit log")
	})
}
