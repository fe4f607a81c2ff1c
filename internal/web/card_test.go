package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// fakePortal is the processor's customer portal, faked at the edge: the
// sandbox on this branch does not open billing portal sessions yet. Like
// Stripe's POST /v1/billing_portal/sessions it refuses a customer id that
// is not one, and answers with a one-off address on the processor's host.
type fakePortal struct {
	paidup.Billing // everything else is not called here
	mu             sync.Mutex
	calls          [][2]string // customer id, return URL
	err            error
	answer         string // a different answer than a portal address, if set
}

func (f *fakePortal) PortalURL(_ context.Context, customerID, returnURL string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	if !strings.HasPrefix(customerID, "cus_") {
		return "", fmt.Errorf("stripe: 400 resource_missing: No such customer: '%s'", customerID)
	}
	f.calls = append(f.calls, [2]string{customerID, returnURL})
	if f.answer != "" {
		return f.answer, nil
	}
	return fmt.Sprintf("https://billing.stripe.test/p/session/test_%d", len(f.calls)), nil
}

func (f *fakePortal) called() [][2]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][2]string(nil), f.calls...)
}

// sendEmails sends every queued email through SMTP to a local mailbox and
// returns the mailbox.
func (b *testBundle) sendEmails(t *testing.T) *mailbox.Mailbox {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	mb, err := mailbox.Open(ctx, b.sandboxDB, log)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go mb.Serve(l)
	t.Cleanup(func() { mb.Close() })
	smtp, err := notify.NewSMTP("smtp://" + l.Addr().String())
	require.NoError(t, err)
	sender := &notify.Sender{Store: b.store, Mailer: smtp, Policy: b.policy, Outbox: b.outbox, Logger: log,
		From: "Test Community <hello@paidup.test>", Business: "Test Community", SupportEmail: "help@example.com",
		PublicURL: b.srv.URL, LinkTTL: time.Hour}
	rows, err := b.db.Read.Query(`SELECT id FROM emails WHERE status = 'queued'`)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		require.NoError(t, sender.Work(ctx, &river.Job[notify.SendArgs]{
			JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 10}, Args: notify.SendArgs{EmailID: id}}))
	}
	return mb
}

// The card link end to end: a customer who bought through the sandbox gets
// a payment-failed email by SMTP; its link opens a page whose button sends
// them, through the processor's portal, to update their card, and signs
// them in; it works once, and afterwards only for the browser it signed
// in; junk and forgeries change nothing.
func TestCardLink(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		_, payPage := b.buy(t, "ada@example.com")
		b.pay(t, payPage)
		require.Contains(t, b.do(t, "GET", b.returnPath(t, payPage), nil, nil).body, "You're in")
		c, err := b.store.CustomerByEmail(ctx, "ada@example.com")
		require.NoError(t, err)
		require.Len(t, c.ProcessorIDs["stripe"], 1)
		cus := c.ProcessorIDs["stripe"][0]
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			return b.outbox.QueueLifecycle(ctx, tx, notify.LifecycleEmail{Kind: notify.KindPaymentFailed, Key: "failed:stripe:in_1",
				CustomerID: c.ID, To: c.Email, PlanID: "pro-annual", Tier: "pro", Amount: paidup.Money{Amount: 24900, Currency: "usd"},
				GraceEnds: time.Now().Add(7 * 24 * time.Hour), Processor: "stripe", ProcessorCustomerID: cus, Reference: "in_1"})
		}))
		mb := b.sendEmails(t)
		msgs, err := mb.Messages(ctx, "ada@example.com", 10)
		require.NoError(t, err)
		var text string
		for _, m := range msgs {
			if strings.Contains(string(m.Raw), "X-Paidup-Email: payment_failed") {
				text, _ = mailbox.Parts(m.Raw)
			}
		}
		link := regexp.MustCompile(regexp.QuoteMeta(b.srv.URL) + `(/card/[A-Za-z0-9_-]+)`).FindStringSubmatch(text)
		require.NotNil(t, link, text)
		path := link[1]

		r := b.do(t, "GET", path, nil, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.body, `action="`+path+`"`)
		require.Contains(t, r.body, "Update your card")
		require.Contains(t, r.body, "Test Community")
		require.Empty(t, b.portal.called(), "opening the link calls nobody: mail scanners open links")

		r = b.do(t, "POST", path, url.Values{}, map[string]string{"Origin": "https://evil.example"})
		require.Equal(t, http.StatusForbidden, r.status, "a cross-site form is refused")
		require.Empty(t, b.portal.called())

		// The first use spends the link, signs the customer in and opens
		// the portal for their processor customer; they come back to
		// their account.
		r = b.do(t, "POST", path, url.Values{}, nil)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "https://billing.stripe.test/p/session/test_1", r.header.Get("Location"))
		require.Equal(t, [][2]string{{cus, b.srv.URL + "/account"}}, b.portal.called())
		cookie := map[string]string{"Cookie": strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]}
		require.Contains(t, cookie["Cookie"], "paidup_session=")
		require.Contains(t, b.do(t, "GET", "/account", nil, cookie).body, "Signed in as ada@example.com")

		// Spent: the link no longer opens the portal, for anyone else; it
		// offers a sign-in link instead.
		for _, method := range []string{"GET", "POST"} {
			r = b.do(t, method, path, url.Values{}, nil)
			require.Equal(t, http.StatusGone, r.status, method)
			require.Contains(t, r.body, "This link has been used")
			require.Contains(t, r.body, `action="/account/link"`)
			require.Empty(t, r.header.Values("Set-Cookie"))
		}
		require.Len(t, b.portal.called(), 1)
		// The browser it signed in still gets through.
		r = b.do(t, "GET", path, nil, cookie)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.body, `action="`+path+`"`)
		r = b.do(t, "POST", path, url.Values{}, cookie)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "https://billing.stripe.test/p/session/test_2", r.header.Get("Location"))
		timeline, err := b.store.Timeline(ctx, c.ID, "")
		require.NoError(t, err)
		var opened int
		for _, e := range timeline {
			if e.Summary == "Signed in with an emailed card link and opened the card update page" {
				opened++
			}
		}
		require.Equal(t, 1, opened)

		// The processor fails: the recovery page, nothing else.
		b.portal.err = errors.New("stripe: 500 api_error: secret internals")
		r = b.do(t, "POST", path, url.Values{}, cookie)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
		require.Contains(t, r.body, "We could not open the card page just now")
		require.Regexp(t, `R-[0-9A-F]{12}`, r.body)
		require.NotContains(t, r.body, "secret internals")
		require.NotContains(t, r.body, "goroutine")
		b.portal.err = nil

		// A portal address that is not a web address is not followed.
		b.portal.answer = "javascript:alert(1)"
		r = b.do(t, "POST", path, url.Values{}, cookie)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
		require.Empty(t, r.header.Get("Location"))
		b.portal.answer = ""
		calls := len(b.portal.called())

		// Junk, forgeries and expired links: a calm page offering a sign-in
		// link, and no call to the processor.
		var expired string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			expired, err = tx.CreateCardLink(ctx, store.CardLink{CustomerID: c.ID, Processor: "stripe", ProcessorCustomerID: cus,
				ExpiresAt: time.Now().Add(-time.Second)}, "")
			return err
		}))
		tests := []struct {
			name, method, path string
			status             int
		}{
			{"expired", "GET", "/card/" + expired, http.StatusGone},
			{"expired, posted", "POST", "/card/" + expired, http.StatusGone},
			{"unknown", "GET", "/card/" + strings.Repeat("A", 43), http.StatusGone},
			{"unknown, posted", "POST", "/card/" + strings.Repeat("A", 43), http.StatusGone},
			{"truncated", "GET", path[:len(path)-10], http.StatusGone},
			{"too short", "POST", "/card/abc", http.StatusNotFound},
			{"too long", "GET", "/card/" + strings.Repeat("A", 500), http.StatusNotFound},
			{"script", "GET", "/card/" + url.PathEscape(`<script>alert(1)</script>`+strings.Repeat("x", 30)), http.StatusNotFound},
			{"quote", "POST", "/card/" + url.PathEscape(`"onmouseover="alert(1)`+strings.Repeat("x", 30)), http.StatusNotFound},
			{"sql", "GET", "/card/" + url.PathEscape(`x' OR '1'='1`+strings.Repeat("x", 30)), http.StatusNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := b.do(t, tt.method, tt.path, url.Values{}, nil)
				require.Equal(t, tt.status, r.status, r.body)
				require.Contains(t, r.body, "This link has expired")
				require.Contains(t, r.body, `action="/account/link"`, "a fresh sign-in link is offered")
				require.NotContains(t, r.body, "<script>alert(1)")
				require.NotContains(t, r.body, `"onmouseover`)
				require.Len(t, b.portal.called(), calls)
			})
		}
		require.Equal(t, http.StatusNotFound, b.do(t, "PUT", path, url.Values{}, nil).status)
		require.Equal(t, http.StatusNotFound, b.do(t, "GET", path+"/more", nil, nil).status)
		require.Len(t, b.portal.called(), calls)

		// Signed in, a one-time buyer's account page says nothing of a
		// card; the button's address still opens the portal.
		token, err := b.store.CreateSignInLink(ctx, c.ID, time.Hour)
		require.NoError(t, err)
		r = b.do(t, "POST", "/account/sign-in", url.Values{"token": {token}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		cookie = map[string]string{"Cookie": strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]}
		r = b.do(t, "GET", "/account", nil, cookie)
		require.NotContains(t, r.body, `action="/account/card"`)
		require.NotContains(t, strings.ToLower(visibleText(r.body)), "card")
		r = b.do(t, "POST", "/account/card", url.Values{}, cookie)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.True(t, strings.HasPrefix(r.header.Get("Location"), "https://billing.stripe.test/p/session/"))
		require.Len(t, b.portal.called(), calls+1)
		r = b.do(t, "POST", "/account/card", url.Values{}, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, "/account", r.header.Get("Location"), "signed out: back to the sign-in form")
		r = b.do(t, "POST", "/account/card", url.Values{}, map[string]string{"Cookie": cookie["Cookie"], "Origin": "https://evil.example"})
		require.Equal(t, http.StatusForbidden, r.status)
		require.Len(t, b.portal.called(), calls+1)
	})
}

// A customer with no card on file sees no card button.
func TestAccountWithoutCard(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	ctx := context.Background()
	var id string
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		id, _, err = tx.MatchCustomer(ctx, "paymenter", "", "grace@example.com")
		return err
	}))
	token, err := b.store.CreateSignInLink(ctx, id, time.Hour)
	require.NoError(t, err)
	r := b.do(t, "POST", "/account/sign-in", url.Values{"token": {token}}, nil)
	cookie := map[string]string{"Cookie": strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]}
	r = b.do(t, "GET", "/account", nil, cookie)
	require.Contains(t, r.body, "Signed in as grace@example.com")
	require.NotContains(t, r.body, `action="/account/card"`)
	r = b.do(t, "POST", "/account/card", url.Values{}, cookie)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, r.body, "There is no card on file")
}
