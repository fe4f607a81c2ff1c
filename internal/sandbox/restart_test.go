package sandbox_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// snapshot is everything the API shows, by request path.
type snapshot map[string][]string

func (b *bundle) snapshot(t *testing.T, extra ...string) snapshot {
	t.Helper()
	s := snapshot{}
	for _, path := range []string{"/v1/customers", "/v1/checkout/sessions", "/v1/events", "/v1/charges", "/v1/payment_intents",
		"/v1/refunds", "/v1/webhook_endpoints", "/v1/products", "/v1/prices"} {
		for _, raw := range b.listAll(t, path, "") {
			s[path] = append(s[path], string(raw))
		}
	}
	for _, path := range append(extra, "/_sandbox/deliveries", "/_sandbox/faults") {
		status, body := b.get(t, path)
		s[path] = []string{http.StatusText(status), string(body)}
	}
	return s
}

func requireSameSnapshot(t *testing.T, want, got snapshot) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for path, items := range want {
		require.Len(t, got[path], len(items), path)
		for i := range items {
			if items[i] == got[path][i] {
				continue
			}
			require.JSONEq(t, items[i], got[path][i], "%s item %d", path, i)
		}
	}
}

// Everything the sandbox has made survives a restart on the same database:
// objects, events, deletions, deliveries and idempotency keys.
func TestRestartKeepsEverything(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		keep, _ := b.newCustomer(t, "keep@example.com")
		gone, _ := b.newCustomer(t, "gone@example.com")
		_, err := b.client.V1Customers.Delete(ctx, gone, nil)
		require.NoError(t, err)

		other := newReceiver(t)
		we, err := b.client.V1WebhookEndpoints.Create(ctx, &stripe.WebhookEndpointCreateParams{
			URL: stripe.String(other.srv.URL + "/hooks"), EnabledEvents: []*string{stripe.String("*")},
		})
		require.NoError(t, err)
		_, err = b.client.V1WebhookEndpoints.Delete(ctx, we.ID, nil)
		require.NoError(t, err)

		paid := b.newSession(t, "PU-KEEP")
		_, err = b.pay(paid.ID, "pm_card_chargeDeclined")
		require.Error(t, err)
		_, err = b.pay(paid.ID, "pm_card_visa")
		require.NoError(t, err)
		open := b.newSession(t, "PU-OPEN")
		got, err := b.client.V1CheckoutSessions.Retrieve(ctx, paid.ID, &stripe.CheckoutSessionRetrieveParams{
			Params: stripe.Params{Expand: []*string{stripe.String("payment_intent")}},
		})
		require.NoError(t, err)
		_, err = b.client.V1Refunds.Create(ctx, &stripe.RefundCreateParams{PaymentIntent: stripe.String(got.PaymentIntent.ID), Amount: stripe.Int64(900)})
		require.NoError(t, err)
		b.hooks.waitFor(t, "charge.refunded", func(got []string) bool { return len(got) > 0 && got[len(got)-1] == "charge.refunded" })
		b.settle(t)

		extra := []string{"/v1/customers/" + keep, "/v1/customers/" + gone, "/v1/webhook_endpoints/" + we.ID, "/v1/checkout/sessions/" + open.ID}
		before := b.snapshot(t, extra...)
		require.Len(t, before["/v1/customers"], 2, "the customer paid with and the one kept; the deleted one is not listed")
		require.Contains(t, before["/v1/customers/"+gone][1], `"deleted": true`)
		require.Equal(t, http.StatusText(http.StatusNotFound), before["/v1/webhook_endpoints/"+we.ID][0])

		b.stop()
		b.start(t, nil)
		requireSameSnapshot(t, before, b.snapshot(t, extra...))

		again := b.newSession(t, "PU-KEEP")
		require.Equal(t, paid.ID, again.ID, "the idempotency key replays the first response after a restart")
		require.Len(t, b.listAll(t, "/v1/checkout/sessions", ""), 2, "the replay created nothing")

		// The sandbox carries on: new objects, events to the live endpoint
		// only, and the deleted customer stays deleted.
		_, ev := b.newCustomer(t, "after@example.com")
		b.waitDelivery(t, ev, "succeeded")
		require.Empty(t, other.hitsFor(ev), "a deleted endpoint gets nothing")
		_, err = b.client.V1Customers.Update(ctx, gone, &stripe.CustomerUpdateParams{Name: stripe.String("Back")})
		var se *stripe.Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusNotFound, se.HTTPStatusCode, "a deleted customer cannot be updated")
		require.Len(t, b.listAll(t, "/v1/customers", ""), 3)
	})
}

// A delivery waiting for its retry when the sandbox stops is retried by the
// next sandbox on the same database.
func TestRestartRetriesPendingDelivery(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		const wait = 2 * time.Second
		b := setup(t, engine, setupOpts{retry: []time.Duration{wait, 20 * time.Millisecond}})
		b.settle(t)
		b.hooks.failNext(500)
		_, ev := b.newCustomer(t, "pending@example.com")
		require.Eventually(t, func() bool {
			ds := b.deliveries(t, "event="+ev)
			return len(ds) == 1 && len(ds[0].Attempts) == 1
		}, 5*time.Second, 10*time.Millisecond)

		b.stop()
		require.Equal(t, []int{500}, hitStatuses(b.hooks.hitsFor(ev)), "only the failed attempt happened before the stop")
		b.start(t, nil)

		d := b.waitDelivery(t, ev, "succeeded")
		require.Equal(t, []int{500, 200}, attemptStatuses(d))
		require.GreaterOrEqual(t, d.Attempts[1].At.Sub(d.Attempts[0].At), wait, "the retry keeps its schedule across the restart")
		require.Len(t, b.hooks.received("customer.created"), 1)
		require.Eventually(t, func() bool { return b.event(t, ev).PendingWebhooks == 0 }, 5*time.Second, 10*time.Millisecond)
	})
}

// Idempotency keys last 24 hours, as on Stripe: afterwards the same key
// starts a new request, and a restart forgets the old records.
func TestIdempotencyKeysExpire(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	first := b.newSession(t, "PU-KEYS")
	require.Equal(t, first.ID, b.newSession(t, "PU-KEYS").ID)
	b.clock.Add(25 * time.Hour)
	later := b.newSession(t, "PU-KEYS")
	require.NotEqual(t, first.ID, later.ID, "after 24 hours the key is new again")

	b.clock.Add(25 * time.Hour)
	b.stop()
	b.start(t, nil)
	var n int
	require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM sandbox_objects WHERE object = 'sandbox.idempotency_key'`).Scan(&n))
	require.Zero(t, n, "expired keys are pruned at start")
}
