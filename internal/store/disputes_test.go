package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// A dispute is recorded once, with one reference of paidup's however
// often its events come; its payment reads as disputed from then on; and
// support finds the customer by that reference, or by a purchase's.
func TestDisputesAndReferences(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		customer := b.newCustomer(t, "ada@example.com")
		b.exec(t, `INSERT INTO checkout_attempts (reference, plan_id, email, amount, currency, processor, status, created_at, updated_at, customer_id)
			VALUES ('PU-AAAA-0001', 'pro-annual', 'ada@example.com', 24900, 'usd', 'stripe', 'fulfilled', $1, $1, $2)`, b.now, customer)
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			return tx.RecordPayment(ctx, paidup.Payment{Processor: "stripe", ID: "pi_1", CustomerID: customer, CheckoutReference: "PU-AAAA-0001",
				PlanID: "pro-annual", Amount: paidup.Money{Amount: 24900, Currency: "usd"}, PaidAt: b.now})
		}))
		p, _, err := b.store.Payment(ctx, "stripe", "pi_1")
		require.NoError(t, err)
		require.Equal(t, paidup.PaymentSucceeded, p.State())

		d := paidup.Dispute{Processor: "stripe", ID: "dp_1", PaymentID: "pi_1", CustomerID: customer,
			Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Reason: "fraudulent", Status: "needs_response", CreatedAt: b.now.Add(-time.Hour)}
		record := func(status string) (paidup.Dispute, bool) {
			t.Helper()
			var rec paidup.Dispute
			var created bool
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				d.Status = status
				var err error
				rec, created, err = tx.RecordDispute(ctx, d)
				return err
			}))
			return rec, created
		}
		first, created := record("needs_response")
		require.True(t, created)
		require.True(t, paidup.IsReference(first.Reference), first.Reference)
		again, created := record("lost")
		require.False(t, created)
		require.Equal(t, first.Reference, again.Reference, "one reference per dispute")
		require.Equal(t, "lost", again.Status)

		p, _, err = b.store.Payment(ctx, "stripe", "pi_1")
		require.NoError(t, err)
		require.Equal(t, paidup.PaymentDisputed, p.State())
		require.Equal(t, first.Reference, p.DisputeReference)
		ps, err := b.store.Payments(ctx, customer)
		require.NoError(t, err)
		require.Equal(t, paidup.PaymentDisputed, ps[0].State())

		for _, ref := range []string{first.Reference, "PU-AAAA-0001"} {
			c, err := b.store.CustomerByReference(ctx, ref)
			require.NoError(t, err, ref)
			require.Equal(t, customer, c.ID, ref)
		}
		_, err = b.store.CustomerByReference(ctx, "PU-ZZZZ-ZZZZ")
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
	})
}
