package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// With deliveries in parallel, every event still reaches the endpoint
// exactly once, failures are retried, every attempt is recorded, and a
// slow endpoint request does not hold up the others.
func TestParallelDeliveries(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{deliveries: 8})
		b.settle(t)
		release := b.hooks.holdNext(t)
		_, slow := b.newCustomer(t, "slow@example.com")
		b.hooks.failNext(500, 503)

		const n = 40
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := b.client.V1Customers.Create(context.Background(), &stripe.CustomerCreateParams{Email: stripe.String(fmt.Sprintf("c%d@example.com", i))})
				require.NoError(t, err)
			})
		}
		wg.Wait()

		// The others arrive while the first is still stalled.
		require.Eventually(t, func() bool { return len(b.hooks.received("customer.created")) >= n }, 5*time.Second, 10*time.Millisecond)
		require.Empty(t, b.hooks.hitsFor(slow), "the stalled request has not been answered yet")
		release()

		b.settle(t)
		got := map[string]int{}
		for _, d := range b.hooks.received("customer.created") {
			got[objectOf(t, d)]++
		}
		require.Len(t, got, n+1)
		for id, k := range got {
			require.Equal(t, 1, k, "customer %s delivered %d times", id, k)
		}
		var retried int
		for _, d := range b.deliveries(t, "") {
			require.Equal(t, "succeeded", d.Status, "delivery %s", d.ID)
			if len(d.Attempts) > 1 {
				retried++
			}
		}
		require.Equal(t, 2, retried, "the two failed attempts were retried, and recorded")
		for _, ev := range b.events(t, "type=customer.created") {
			require.Zero(t, ev.PendingWebhooks, ev.ID)
		}
	})
}

// Sessions listed by payment_intent come from an index: the one session
// the payment went through, with the other filters and the cursors still
// applying.
func TestListSessionsByPayment(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	ctx := context.Background()
	var paid []*stripe.CheckoutSession
	for i := range 3 {
		cs := b.newSession(t, fmt.Sprintf("PU-%04d", i))
		p, err := b.pay(cs.ID, "pm_card_visa")
		require.NoError(t, err)
		paid = append(paid, p)
	}
	b.newSession(t, "PU-OPEN") // not paid
	for _, cs := range paid {
		var found []string
		for s, err := range b.client.V1CheckoutSessions.List(ctx, &stripe.CheckoutSessionListParams{PaymentIntent: stripe.String(cs.PaymentIntent.ID)}) {
			require.NoError(t, err)
			found = append(found, s.ID)
		}
		require.Equal(t, []string{cs.ID}, found)
	}
	status, body := b.get(t, "/v1/checkout/sessions?payment_intent=pi_nonesuch")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), `"data": []`)
	status, body = b.get(t, "/v1/checkout/sessions?payment_intent="+paid[1].PaymentIntent.ID+"&status=expired")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), `"data": []`, "the other filters still apply")
	status, body = b.get(t, "/v1/checkout/sessions?payment_intent="+paid[1].PaymentIntent.ID+"&starting_after="+paid[2].ID)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), paid[1].ID, "older than the cursor")
	status, body = b.get(t, "/v1/checkout/sessions?payment_intent="+paid[1].PaymentIntent.ID+"&starting_after="+paid[0].ID)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), `"data": []`, "newer than the cursor")
	status, body = b.get(t, "/v1/checkout/sessions?payment_intent="+paid[1].PaymentIntent.ID+"&ending_before="+paid[0].ID)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), paid[1].ID)
}

// A list by creation time stops at the first object created before its
// range, unless the business clock was set back and objects were created
// out of order: then every one is looked at.
func TestListCreatedRangeOutOfOrder(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	start := b.clock.Now()
	a, _ := b.newCustomer(t, "first@example.com")
	b.clock.Add(-2 * time.Hour)
	bb, _ := b.newCustomer(t, "earlier@example.com")
	b.clock.Add(2 * time.Hour)

	ids := func(query string) []string {
		var out []string
		for _, raw := range b.listAll(t, "/v1/customers", query) {
			var o struct{ ID string }
			require.NoError(t, json.Unmarshal(raw, &o))
			out = append(out, o.ID)
		}
		return out
	}
	require.Equal(t, []string{a}, ids(fmt.Sprintf("created[gte]=%d", start.Add(-time.Hour).Unix())), "the one created earlier, but listed first, does not end the list")
	require.Equal(t, []string{bb, a}, ids(fmt.Sprintf("created[gte]=%d", start.Add(-3*time.Hour).Unix())))
}
