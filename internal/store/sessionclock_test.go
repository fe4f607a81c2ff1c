package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// On the business clock a session ends when the clock passes its end, as
// when a test clock jumps a month; with SessionsOnWallClock (sandbox mode)
// it lives by the wall clock and lasts through the jump.
func TestSessionsOnWallClock(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		for _, wall := range []bool{false, true} {
			b := setup(t, engine)
			b.now = time.Now()
			if wall {
				b.store.SessionsOnWallClock()
			}
			ada := b.newCustomer(t, "ada@example.com")
			token, err := b.store.CreateSignInLink(ctx, ada, 15*time.Minute)
			require.NoError(t, err)
			session, _, err := b.store.UseSignInLink(ctx, token, 30*24*time.Hour)
			require.NoError(t, err)

			b.now = b.now.AddDate(0, 1, 1) // the sandbox's clock, a month on
			got, err := b.store.SessionCustomer(ctx, session)
			if !wall {
				require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "on the business clock the session has ended")
				continue
			}
			require.NoError(t, err, "on the wall clock the session lasts through the jump")
			require.Equal(t, ada, got)
			// The sign-in is on the timeline at the business time.
			entries, err := b.store.Timeline(ctx, ada, "")
			require.NoError(t, err)
			require.WithinDuration(t, b.now.AddDate(0, -1, -1), entries[0].At, time.Second)
		}
	})
}
