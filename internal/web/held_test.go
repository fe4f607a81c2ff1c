package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// signIn signs the customer of email in, as their link would, and
// returns the session cookie.
func (b *testBundle) signIn(t testing.TB, email string) string {
	t.Helper()
	c, err := b.store.CustomerByEmail(context.Background(), email)
	require.NoError(t, err)
	token, err := b.store.CreateSignInLink(context.Background(), c.ID, time.Hour)
	require.NoError(t, err)
	r := b.do(t, "POST", "/account/sign-in", url.Values{"token": {token}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	return strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]
}

// submit posts the buy form of plan for email, with the cookie if any.
func (b *testBundle) submit(t testing.TB, plan, email, cookie string, extra url.Values) response {
	t.Helper()
	headers := map[string]string{}
	if cookie != "" {
		headers["Cookie"] = cookie
	}
	form := url.Values{"email": {email}, "reference": {formReference(t, b.do(t, "GET", "/buy/"+plan, nil, headers).body)}}
	for k, v := range extra {
		form[k] = v
	}
	return b.do(t, "POST", "/buy/"+plan, form, headers)
}

// The buy page tells a signed-in customer what they already hold and
// what buying again would do, and asks before sending them to pay. A
// visitor who is not signed in learns nothing about any address: the page
// and the submit are the same whether the address typed holds the plan or
// not.
func TestBuyingWhatYouHave(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		b.customer(t, "ada@example.com") // Pro, one year
		until := "until " + time.Now().UTC().AddDate(1, 0, 0).Format("2 January 2006")

		// A stranger: the same page, and straight to the payment page, for
		// Ada's address as for an unknown one.
		page := b.do(t, "GET", "/buy/pro-annual", nil, nil).body
		require.Contains(t, page, "Already have Pro? Buying it again adds nothing, and a second payment is refunded automatically.")
		require.NotContains(t, page, "You already have")
		attempts := b.count(t, "checkout_attempts")
		for _, email := range []string{"ada@example.com", "nobody@example.com"} {
			r := b.submit(t, "pro-annual", email, "", nil)
			require.Equal(t, http.StatusSeeOther, r.status, email)
			require.True(t, strings.HasPrefix(r.header.Get("Location"), b.sandboxURL), "to the payment page: %s", r.header.Get("Location"))
			require.NotContains(t, r.body, "already")
		}
		require.Equal(t, attempts+2, b.count(t, "checkout_attempts"))

		// Ada, signed in: told, and asked.
		ada := b.signIn(t, "ada@example.com")
		page = b.do(t, "GET", "/buy/pro-annual", nil, map[string]string{"Cookie": ada}).body
		require.Contains(t, page, "You already have Pro "+until+".")
		require.Contains(t, page, "Buying it again adds nothing to what you have, and a second payment is refunded automatically. Do you mean to buy it again?")
		require.NotContains(t, page, "Already have Pro?", "no hint to sign in to someone signed in")
		attempts = b.count(t, "checkout_attempts")
		r := b.submit(t, "pro-annual", "ada@example.com", ada, nil)
		require.Equal(t, http.StatusOK, r.status, "a confirm step, not the payment page")
		require.Contains(t, r.body, "You already have Pro "+until+".")
		require.Contains(t, r.body, `name="confirm" value="yes"`)
		require.Contains(t, page, `value="ada@example.com"`, "a signed-in customer's address is filled in")
		require.Contains(t, r.body, "Buy again anyway")
		require.Equal(t, attempts, b.count(t, "checkout_attempts"), "nothing started yet")
		r = b.submit(t, "pro-annual", "ada@example.com", ada, url.Values{"confirm": {"yes"}})
		require.Equal(t, http.StatusSeeOther, r.status, "confirmed: to pay")
		require.True(t, strings.HasPrefix(r.header.Get("Location"), b.sandboxURL))

		// Buying for another address while signed in is someone else's
		// purchase.
		r = b.submit(t, "pro-annual", "grace@example.com", ada, nil)
		require.Equal(t, http.StatusSeeOther, r.status)

		// A yearly holder buying monthly is told what it costs and what
		// overlaps.
		page = b.do(t, "GET", "/buy/pro-monthly", nil, map[string]string{"Cookie": ada}).body
		require.Contains(t, page, "You already have Pro "+until+".")
		require.Contains(t, page, "This subscription charges $19.00 today and per month after that. Until "+strings.TrimPrefix(until, "until ")+" you would be paying twice for Pro, and our team is told of it")
		require.Contains(t, page, "Subscribe anyway")
		// She subscribes anyway: granted (the processor bills it from now
		// on), and a person is asked which to keep.
		r = b.submit(t, "pro-monthly", "ada@example.com", ada, url.Values{"confirm": {"yes"}})
		require.Equal(t, http.StatusSeeOther, r.status)
		b.pay(t, r.header.Get("Location"))
		require.Contains(t, b.do(t, "GET", b.returnPath(t, r.header.Get("Location")), nil, nil).body, "You're in")
		var cases int
		require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM support_cases WHERE kind = $1`, paidup.CaseOverlappingSubscription).Scan(&cases))
		require.Equal(t, 1, cases)

		// Supporter is another tier: nothing to warn of.
		page = b.do(t, "GET", "/buy/supporter-lifetime", nil, map[string]string{"Cookie": ada}).body
		require.NotContains(t, page, "You already have")

		// A plan that extends says to when.
		for i := range b.policy.Plans {
			if b.policy.Plans[i].ID == "pro-annual" {
				b.policy.Plans[i].Extends = true
			}
		}
		page = b.do(t, "GET", "/buy/pro-annual", nil, map[string]string{"Cookie": ada}).body
		newUntil := "until " + time.Now().UTC().AddDate(2, 0, 0).Format("2 January 2006")
		require.Contains(t, page, "Buying this again extends it: the new time starts when yours ends, on "+strings.TrimPrefix(until, "until ")+", and you would have Pro "+newUntil+". Do you mean to extend?")
		require.Contains(t, page, "Extend for $249.00")
		require.Contains(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body, "Already have Pro? Buying this adds one year after your current access ends.")
	})
}

// The status page of a duplicate purchase says it bought nothing and is
// being refunded, then that it was; never "You're in".
func TestStatusPageOfDuplicate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		b.customer(t, "ada@example.com")
		_, payPage := b.buy(t, "ada@example.com")
		b.pay(t, payPage)
		status := b.returnPath(t, payPage)
		page := b.do(t, "GET", status, nil, nil).body
		require.Contains(t, page, "We're refunding this payment")
		require.Contains(t, page, "This address already had Pro, so this payment bought nothing new. We are refunding it in full ($249.00), and we email <b>ada@example.com</b> when the refund is made.")
		require.NotContains(t, page, "You're in")
		require.NotContains(t, page, "not be charged again")

		ref := strings.TrimPrefix(strings.SplitN(status, "?", 2)[0], "/checkout/")
		a, err := b.store.CheckoutAttempt(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptDuplicate, a.Status)
		req, err := http.NewRequest("POST", b.sandboxURL+"/v1/refunds", strings.NewReader(url.Values{"payment_intent": {a.PaymentID}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer sk_test_web")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		svc := &checkout.Service{Store: b.store, Processor: b.processor, Policy: b.policy, Notify: b.outbox}
		_, err = svc.SyncRefunds(ctx, a.PaymentID, "test", "")
		require.NoError(t, err)
		page = b.do(t, "GET", status, nil, nil).body
		require.Contains(t, page, "This payment was refunded")
		require.Contains(t, page, "We have refunded it in full ($249.00).")
		require.NotContains(t, page, "You're in")
	})
}
