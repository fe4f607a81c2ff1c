package notify_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// Requests waiting when paidup stops are still worked, for a few seconds:
// a customer's gets its email, a stranger's nothing. A full queue refuses
// at once.
func TestSignInRequestsDrainWhenStopping(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		b.confirmation(t, proAnnual, "ada@example.com")
		q := notify.NewSignInRequests(b.store, b.outbox, slog.New(slog.DiscardHandler), 2)
		require.True(t, q.Ask("eve@example.com"))
		require.True(t, q.Ask("ada@example.com"))
		require.False(t, q.Ask("ada@example.com"), "full: refused, not waited for")

		ctx, cancel := context.WithCancel(context.Background())
		cancel() // stopping before the worker ever ran
		q.Run(ctx)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = $1 AND to_address = $2`, notify.KindSignIn, "ada@example.com"))
		require.Equal(t, 0, b.count(t, `SELECT count(*) FROM emails WHERE to_address = $1`, "eve@example.com"))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'send_email' AND args->>'email_id' IN (SELECT id FROM emails WHERE kind = $1)`, notify.KindSignIn))
	})
}
