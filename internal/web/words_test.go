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
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// The processor's way back from its payment page ("← Back to …", which a
// customer can also take after paying) shows "nothing has been charged"
// only while that is so; a paid checkout, found paid then or before, goes
// to its status page; a reference the link merely names changes nothing.
func TestCancelledLinkFollowsTheCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ref, payPage := b.buy(t, "ada@example.com")
		browser := map[string]string{"Cookie": b.cookie}
		r := b.do(t, "GET", "/buy/pro-annual?cancelled="+ref, nil, browser)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.body, "nothing has been charged", "really unpaid")

		// Paid, and not yet confirmed by anything: the link itself asks.
		b.pay(t, payPage)
		status := strings.Split(b.returnPath(t, payPage), "&")[0]
		r = b.do(t, "GET", "/buy/pro-annual?cancelled="+ref, nil, browser)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, status, r.header.Get("Location"), "the browser that paid gets its whole status page")
		require.Equal(t, 1, b.count(t, "grants"), "and the payment was fulfilled on the way")
		r = b.do(t, "GET", status, nil, nil)
		require.Contains(t, r.body, "<h1>You're in</h1>")
		require.NotContains(t, r.body, "nothing")

		r = b.do(t, "GET", "/buy/pro-annual?cancelled="+ref, nil, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, "/checkout/"+ref, r.header.Get("Location"), "another browser gets the page the reference opens")

		for _, q := range []string{"PU-0000-0000", "not-a-reference"} {
			r = b.do(t, "GET", "/buy/pro-annual?cancelled="+q, nil, nil)
			require.Equal(t, http.StatusOK, r.status)
			require.NotContains(t, r.body, "You left the payment page", "an unknown reference is not taken at its word")
		}
		r = b.do(t, "GET", "/buy/pro-monthly?cancelled="+ref, nil, browser)
		require.NotContains(t, r.body, "You left the payment page", "a reference of another plan is not this plan's")
	})
}

// While the processor cannot be asked, the way back does not claim nothing
// was charged: it shows the status page, which says it is confirming.
func TestCancelledLinkWhileProcessorIsDown(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	ref, _ := b.buy(t, "ada@example.com")
	good := b.processor.Processor
	b.processor.Processor = down{good}
	r := b.do(t, "GET", "/buy/pro-annual?cancelled="+ref, nil, map[string]string{"Cookie": b.cookie})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.True(t, strings.HasPrefix(r.header.Get("Location"), "/checkout/"+ref), r.header.Get("Location"))
}

// down is a processor that cannot be reached.
type down struct{ paidup.Processor }

func (down) Checkout(context.Context, string) (paidup.Checkout, error) {
	return paidup.Checkout{}, paidup.Errorf(paidup.EUNAVAILABLE, "connection refused")
}

// The status page says how the purchase stands now: on hold after a
// chargeback, however it began; and it speaks of the emailed sign-in link
// only while that link can still work.
func TestStatusPageFollowsThePurchase(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ref, payPage := b.buy(t, "ada@example.com")
		back := b.returnPath(t, payPage)
		b.pay(t, payPage)
		r := b.do(t, "GET", back, nil, nil)
		require.Contains(t, r.body, "<h1>You're in</h1>")
		require.Contains(t, r.body, "We've emailed a sign-in link")
		require.Contains(t, r.body, "you will not be charged again for this purchase")

		_, err := b.db.Write.Exec(`UPDATE grants SET created_at = $1`, time.Now().Add(-2*time.Hour))
		require.NoError(t, err)
		r = b.do(t, "GET", back, nil, nil)
		require.Contains(t, r.body, "<h1>You're in</h1>")
		require.NotContains(t, r.body, "sign-in link", "the link went out longer ago than it works")
		require.Contains(t, r.body, `href="/account"`)

		a, err := b.store.CheckoutAttempt(ctx, ref)
		require.NoError(t, err)
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.AddBlock(ctx, paidup.Block{CustomerID: a.CustomerID, Source: paidup.BlockDispute, Reason: "chargeback"}, "stripe:dp_test")
			return err
		}))
		for _, path := range []string{back, "/checkout/" + ref} {
			r = b.do(t, "GET", path, nil, nil)
			require.Contains(t, r.body, "Your access is on hold", path)
			require.NotContains(t, r.body, "You're in", path)
			require.NotContains(t, r.body, "for good", path)
		}
	})
}

// A monthly purchase's status page follows its subscription: when it
// renews and how to cancel, then cancelled with the day access ends, then a
// failed renewal with the grace's end; never that nothing more is charged
// while it renews.
func TestStatusPageFollowsTheSubscription(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ref := formReference(t, b.do(t, "GET", "/buy/pro-monthly", nil, nil).body)
		r := b.do(t, "POST", "/buy/pro-monthly", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, nil)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		payPage := r.header.Get("Location")
		back := b.returnPath(t, payPage)
		b.pay(t, payPage)
		r = b.do(t, "GET", back, nil, nil)
		require.Contains(t, r.body, "<h1>You're in</h1>")
		require.Regexp(t, `Your plan renews on \d{1,2} [A-Z][a-z]+ \d{4}: \$\d+\.\d\d is charged`, r.body)
		require.Contains(t, r.body, "cancel any time")
		require.NotContains(t, r.body, "not be charged again")

		a, err := b.store.CheckoutAttempt(ctx, ref)
		require.NoError(t, err)
		end := time.Now().AddDate(0, 1, 0).UTC().Truncate(time.Second)
		sub := paidup.Subscription{Processor: "stripe", ID: "sub_test", CustomerID: a.CustomerID, PlanID: "pro-monthly",
			Status: paidup.SubscriptionActive, PeriodStart: time.Now().UTC().Truncate(time.Second), PeriodEnd: end, CancelAtPeriodEnd: true}
		put := func() {
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error { return tx.PutSubscription(ctx, sub) }))
		}
		put()
		r = b.do(t, "GET", back, nil, nil)
		require.Contains(t, r.body, "Your plan is cancelled: you will not be charged again, and you keep your access until "+end.Format("2 January 2006"))

		sub.CancelAtPeriodEnd, sub.Status, sub.FailingInvoice, sub.FailingSince = false, paidup.SubscriptionPastDue, "in_test", time.Now()
		put()
		r = b.do(t, "GET", back, nil, nil)
		require.Contains(t, r.body, "Your last renewal did not go through")
		require.NotContains(t, r.body, "not be charged again")
		require.NotContains(t, r.body, "in_test", "no processor ids")

		sub.Status, sub.EndedAt, sub.FailingInvoice = paidup.SubscriptionCanceled, time.Now(), ""
		put()
		r = b.do(t, "GET", back, nil, nil)
		require.Contains(t, r.body, "This purchase no longer gives access")
		require.NotContains(t, r.body, "You're in")
	})
}
