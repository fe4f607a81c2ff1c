package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// A card link is spent once, however many try at once: one of them signs
// the customer in, and the customer's other sign-in links stop working.
// Only the page that spent it may spend it again, within a couple of
// minutes (a double click).
func TestCardLinkIsSpentOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		var customer, token string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if customer, _, err = tx.MatchCustomer(ctx, "stripe", "cus_1", "ada@example.com"); err != nil {
				return err
			}
			token, err = tx.CreateCardLink(ctx, store.CardLink{CustomerID: customer, Processor: "stripe", ProcessorCustomerID: "cus_1",
				ExpiresAt: b.now.Add(time.Hour)}, "em_1")
			return err
		}))
		signIn, err := b.store.CreateSignInLink(ctx, customer, time.Hour)
		require.NoError(t, err)

		l, err := b.store.CardLink(ctx, token)
		require.NoError(t, err)
		require.True(t, l.UsedAt.IsZero())

		var wg sync.WaitGroup
		errs := make([]error, 8)
		sessions := make([]string, 8)
		for i := range errs {
			wg.Go(func() {
				_, sessions[i], errs[i] = b.store.UseCardLink(ctx, token, fmt.Sprintf("page-%d", i), time.Hour)
			})
		}
		wg.Wait()
		spent := 0
		for i, err := range errs {
			if err == nil {
				spent++
				id, err := b.store.SessionCustomer(ctx, sessions[i])
				require.NoError(t, err)
				require.Equal(t, customer, id)
				continue
			}
			require.ErrorIs(t, err, store.ErrCardLinkUsed)
		}
		require.Equal(t, 1, spent)
		page := ""
		for i, err := range errs {
			if err == nil {
				page = fmt.Sprintf("page-%d", i)
			}
		}
		first := b.now

		b.now = b.now.Add(time.Minute)
		again, session, err := b.store.UseCardLink(ctx, token, page, time.Hour)
		require.NoError(t, err, "the same page's button, pressed again")
		require.NotEmpty(t, session)
		require.Equal(t, first.Truncate(time.Microsecond), again.UsedAt, "still spent when first spent")
		_, _, err = b.store.UseCardLink(ctx, token, "another page", time.Hour)
		require.ErrorIs(t, err, store.ErrCardLinkUsed)
		_, _, err = b.store.UseCardLink(ctx, token, "", time.Hour)
		require.ErrorIs(t, err, store.ErrCardLinkUsed)
		b.now = first.Add(store.CardLinkResubmit + time.Second)
		_, _, err = b.store.UseCardLink(ctx, token, page, time.Hour)
		require.ErrorIs(t, err, store.ErrCardLinkUsed, "not after a couple of minutes")

		l, err = b.store.CardLink(ctx, token)
		require.NoError(t, err, "a spent link is still read, to tell the customer it was used")
		require.Equal(t, first.Truncate(time.Microsecond), l.UsedAt)
		_, _, err = b.store.UseSignInLink(ctx, signIn, time.Hour)
		require.Error(t, err, "signing in with the card link ended the sign-in link")

		b.now = b.now.Add(2 * time.Hour)
		_, err = b.store.CardLink(ctx, token)
		require.ErrorIs(t, err, store.ErrCardLinkExpired)
		_, _, err = b.store.UseCardLink(ctx, token, page, time.Hour)
		require.ErrorIs(t, err, store.ErrCardLinkExpired)
	})
}
