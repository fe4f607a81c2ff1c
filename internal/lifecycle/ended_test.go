package lifecycle_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// A subscription cancelled at once at the processor (its dashboard, or
// its portal's "cancel now"), read through the real adapter from the
// sandbox, is told to the customer once however often it is synced: the
// paid period they keep, until its end, under their reference.
func TestEndedNowAgainstSandbox(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		sb := sandboxtest.Start(t, sandbox.Options{Prices: []sandbox.SeedPrice{
			{ID: proMonthly.PriceID, ProductName: proMonthly.Name, Amount: 900, Currency: "usd", Interval: "month"},
		}})
		db := sqldbtest.Open(t, engine)
		_, err := db.Migrate(ctx, store.Migrations)
		require.NoError(t, err)
		_, err = queue.Migrate(ctx, db)
		require.NoError(t, err)
		st, err := store.New(db, sb.Sandbox.Now)
		require.NoError(t, err)
		c := sb.Processor()
		svc := &lifecycle.Service{Store: st, Processor: c, Policy: testPolicy(paidup.DoubleBuyCancel), Notify: &notify.Outbox{},
			Logger: slog.New(slog.DiscardHandler)}

		ref := paidup.NewReference()
		co, err := c.CreateCheckout(ctx, paidup.CheckoutRequest{Reference: ref, Plan: proMonthly, Email: "ada@example.com",
			SuccessURL: "http://127.0.0.1:8080/checkout/" + ref, CancelURL: "http://127.0.0.1:8080/buy/pro-monthly"})
		require.NoError(t, err)
		sb.Pay(t, co.ID, nil)
		paid, err := c.Checkout(ctx, co.ID)
		require.NoError(t, err)
		require.NoError(t, svc.SyncSubscription(ctx, paid.SubscriptionID, paid.InvoiceID, paidup.ByWebhook))
		ended := func() []store.Email {
			cu, err := st.CustomerByEmail(ctx, "ada@example.com")
			require.NoError(t, err)
			emails, err := st.Emails(ctx, cu.ID)
			require.NoError(t, err)
			var out []store.Email
			for _, e := range emails {
				if e.Kind == notify.KindSubscriptionEnded {
					out = append(out, e)
				}
			}
			return out
		}
		require.Empty(t, ended(), "a subscription that renews has not ended")

		canceled, err := c.CancelSubscription(ctx, paid.SubscriptionID)
		require.NoError(t, err)
		for range 3 { // the event, a duplicate, the reconciler
			require.NoError(t, svc.SyncSubscription(ctx, paid.SubscriptionID, "", paidup.ByWebhook))
		}
		told := ended()
		require.Len(t, told, 1, "told once")
		d := told[0].Data
		require.Equal(t, ref, d["reference"])
		require.Equal(t, canceled.CurrentPeriodEnd.UTC().Format("2006-01-02T15:04:05Z07:00"), d["until"], "the paid period is kept, until its end")
		require.NotEmpty(t, d["ended"])
		require.Empty(t, d["keeps"], "nothing else is held")

	})
}
