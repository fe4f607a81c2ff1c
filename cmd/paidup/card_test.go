package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// browserPost posts a form from a browser that may carry a session cookie,
// and returns the status, where it is sent, the cookie it is given and the
// page.
func browserPost(t *testing.T, target, cookie string, form url.Values) (status int, location, setCookie, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), strings.SplitN(resp.Header.Get("Set-Cookie"), ";", 2)[0], string(data)
}

// The card link in a payment-failed email, end to end with the sandbox's
// customer portal, where a subscription can be cancelled: the first use
// signs the customer in and opens the portal; after that the link opens
// nothing for anyone else (it offers a sign-in link), while the browser it
// signed in still gets through, and so does the account page's button; a
// double click on the button works. Opening the link (GET, as mail
// scanners do) spends nothing.
func TestCardLinkWorksOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		l := startLife(t, engine, "ana@example.com")
		l.buy("pro-monthly", "4242 4242 4242 4242")
		l.wantAccess("pro")
		l.wantMail("You're in: Pro, monthly")
		sub := l.subscription()
		l.useCard(sub, "pm_card_chargeCustomerFail")
		l.advanceTo(l.periodEnd(sub.ID).Add(time.Minute))
		l.wantMail("Your payment for Pro, monthly didn't go through")

		var link string
		for _, m := range mailboxMessages(t, l.in.sandbox, l.email) {
			if strings.Contains(m.Subject, "didn't go through") {
				link = regexp.MustCompile(regexp.QuoteMeta(l.in.shop) + `/card/[A-Za-z0-9_-]+`).FindString(m.Text)
			}
		}
		require.NotEmpty(t, link, "the email carries a card link")
		portal := regexp.MustCompile(`^` + regexp.QuoteMeta(l.in.sandbox) + `/p/bps_[A-Za-z0-9]+$`)

		var page url.Values
		for range 2 {
			status, body := get(t, link)
			require.Equal(t, http.StatusOK, status, "opening the link, as a scanner does, spends nothing")
			require.Contains(t, body, "Update your card")
			m := regexp.MustCompile(`name="page" value="([A-Za-z0-9_-]+)"`).FindStringSubmatch(body)
			require.NotNil(t, m, body)
			page = url.Values{"page": {m[1]}}
		}
		status, to, cookie, body := browserPost(t, link, "", page)
		require.Equal(t, http.StatusSeeOther, status, body)
		require.Regexp(t, portal, to)
		require.True(t, strings.HasPrefix(cookie, "paidup_session="), "the link signs the customer in")
		status, _ = get(t, to)
		require.Equal(t, http.StatusOK, status, "the sandbox's portal opens")
		// A double click: the same page's button again, before the
		// browser has the cookie.
		status, to, cookie, body = browserPost(t, link, "", page)
		require.Equal(t, http.StatusSeeOther, status, body)
		require.Regexp(t, portal, to)
		require.True(t, strings.HasPrefix(cookie, "paidup_session="))

		// Forwarded, or opened again elsewhere: no portal.
		status, to, other, body := browserPost(t, link, "", url.Values{"page": {"another-page"}})
		require.Equal(t, http.StatusGone, status)
		require.Empty(t, to)
		require.Empty(t, other)
		require.Contains(t, body, "This link has been used")
		require.Contains(t, body, `action="/account/link"`)
		status, body = get(t, link)
		require.Equal(t, http.StatusGone, status)
		require.Contains(t, body, "This link has been used")

		// The browser it signed in still gets through, by the link and by
		// the account page.
		status, to, _, body = browserPost(t, link, cookie, url.Values{})
		require.Equal(t, http.StatusSeeOther, status, body)
		require.Regexp(t, portal, to)
		status, to, _, body = browserPost(t, l.in.shop+"/account/card", cookie, url.Values{})
		require.Equal(t, http.StatusSeeOther, status, body)
		require.Regexp(t, portal, to)
		sessions := 0
		for _, err := range l.stripe.V1Events.List(t.Context(), &stripego.EventListParams{Type: stripego.String("billing_portal.session.created")}) {
			require.NoError(t, err)
			sessions++
		}
		require.Equal(t, 4, sessions, "four portal sessions, none for the browser that was refused")
	})
}
