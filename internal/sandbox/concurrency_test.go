package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// Twenty payments of one session at once: one pays, the rest are told the
// session is no longer open, and there is one charge and one completion.
func TestConcurrentPaymentsOfOneSession(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		cs := b.newSession(t, "PU-RACE")

		const n = 20
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = b.pay(cs.ID, "pm_card_visa")
			})
		}
		close(start)
		wg.Wait()

		paid := 0
		for _, err := range errs {
			if err == nil {
				paid++
				continue
			}
			var se *stripe.Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode, "%v", err)
			require.Contains(t, se.Msg, "no longer active")
		}
		require.Equal(t, 1, paid, "exactly one payment succeeds")

		require.Equal(t, []stripe.ChargeStatus{stripe.ChargeStatusSucceeded}, b.charges(t))
		require.Len(t, b.events(t, "type=checkout.session.completed"), 1)
		require.Len(t, b.events(t, "type=charge.succeeded"), 1)
		require.Len(t, b.events(t, "type=customer.created"), 1, "one customer for one session")
		n2 := 0
		for _, err := range b.client.V1PaymentIntents.List(ctx, nil) {
			require.NoError(t, err)
			n2++
		}
		require.Equal(t, 1, n2, "one payment intent")

		b.hooks.waitFor(t, "checkout.session.completed", func(got []string) bool { return slices.Contains(got, "checkout.session.completed") })
		b.settle(t)
		require.Len(t, b.hooks.received("checkout.session.completed"), 1)
	})
}

// Fifty customers created at once are all kept, through a restart.
func TestConcurrentCustomersPersist(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})

		const n = 50
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				cu, err := b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String(fmt.Sprintf("c%d@example.com", i))})
				errs[i] = err
				if err == nil {
					ids[i] = cu.ID
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		slices.Sort(ids)
		require.Len(t, slices.Compact(slices.Clone(ids)), n, "every customer has its own id")

		b.stop()
		b.start(t, nil)
		var got []string
		for cu, err := range b.client.V1Customers.List(ctx, &stripe.CustomerListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(100)}}) {
			require.NoError(t, err)
			got = append(got, cu.ID)
		}
		slices.Sort(got)
		require.Equal(t, ids, got, "every customer survives the restart")
		require.Len(t, b.events(t, "type=customer.created"), n)
	})
}

// The same idempotency key sent by many clients at once makes one object.
func TestConcurrentIdempotentRequests(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		const n = 10
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				p := &stripe.CustomerCreateParams{Email: stripe.String("once@example.com")}
				p.SetIdempotencyKey("signup-once")
				cu, err := b.client.V1Customers.Create(ctx, p)
				if err == nil {
					ids[i] = cu.ID
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			require.NotEmpty(t, id)
			require.Equal(t, ids[0], id, "every request gets the one customer")
		}
		require.Equal(t, 1, b.count(t, "/v1/customers"))
		require.Len(t, b.events(t, "type=customer.created"), 1)
	})
}
