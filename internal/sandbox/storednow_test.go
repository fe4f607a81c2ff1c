package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// A command beside the sandbox reads its clock from its records: a
// database the sandbox never ran on is on the wall clock, and one whose
// clock moved a month on is a month on.
func TestStoredNow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		now, err := sandbox.StoredNow(ctx, sqldbtest.Open(t, engine))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), now(), time.Second)

		b := setup(t, engine, setupOpts{})
		b.advance(t, sandbox.DefaultClock, b.sb.Now().AddDate(0, 1, 0))
		now, err = sandbox.StoredNow(ctx, b.db)
		require.NoError(t, err)
		// The sandbox here runs on a test's clock, standing still; the
		// stored clock runs, on the wall clock, as far ahead as the
		// sandbox's is of its own.
		ahead := b.sb.Now().Sub(b.clock.Now())
		require.Greater(t, ahead, 27*24*time.Hour)
		require.WithinDuration(t, time.Now().Add(ahead), now(), time.Second)
	})
}
