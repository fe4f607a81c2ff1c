package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// A customer's timeline pages, newest first, hold the facts recorded about
// them and about their checkouts before paidup knew who they were, and
// nobody else's, each once.
func TestTimelinePage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		_, _, err := b.store.CreateCheckoutAttempt(ctx, attempt("PU-AAAA-0001"))
		require.NoError(t, err)
		appendN := func(e paidup.TimelineEntry, from, n int) {
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				for i := from; i < from+n; i++ {
					e.Summary = fmt.Sprint(i)
					if err := tx.Append(ctx, e); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		// Before the customer is known: by the checkout's reference.
		appendN(paidup.TimelineEntry{Reference: "PU-AAAA-0001", Kind: paidup.EventCheckout, Source: paidup.BySystem}, 1, 4)
		var ada, bob string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if ada, _, err = tx.MatchCustomer(ctx, "stripe", "cus_ada", "ada@example.com"); err != nil {
				return err
			}
			if bob, _, err = tx.MatchCustomer(ctx, "stripe", "cus_bob", "bob@example.com"); err != nil {
				return err
			}
			return tx.ResolveAttempt(ctx, "PU-AAAA-0001", paidup.AttemptFulfilled, ada, "")
		}))
		appendN(paidup.TimelineEntry{CustomerID: ada, Kind: paidup.EventPayment, Source: paidup.ByWebhook}, 5, 3)
		appendN(paidup.TimelineEntry{CustomerID: bob, Kind: paidup.EventPayment, Source: paidup.ByWebhook}, 100, 3)
		appendN(paidup.TimelineEntry{Reference: "PU-AAAA-0001", Kind: paidup.EventCheckout, Source: paidup.BySystem}, 8, 1)
		appendN(paidup.TimelineEntry{CustomerID: ada, Kind: paidup.EventEmail, Source: paidup.BySystem}, 9, 2)

		var got []string
		var before int64
		for {
			page, err := b.store.TimelinePage(ctx, ada, before, 3)
			require.NoError(t, err)
			for _, e := range page {
				got = append(got, e.Summary)
			}
			if len(page) < 3 {
				break
			}
			before = page[len(page)-1].ID
		}
		require.Equal(t, []string{"10", "9", "8", "7", "6", "5", "4", "3", "2", "1", "Checkout started: pro-annual, $249.00, for ada@example.com"}, got)

		page, err := b.store.TimelinePage(ctx, bob, 0, 50)
		require.NoError(t, err)
		require.Len(t, page, 3)
		page, err = b.store.TimelinePage(ctx, "cu_nobody", 0, 50)
		require.NoError(t, err)
		require.Empty(t, page)
	})
}
