package lifecycle_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// A sweep that fails is logged at WARN and completes its job, so that a
// database outage leaves no discarded sweep jobs behind; the next sweep
// does the work.
func TestFailedSweepCompletesItsJob(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		w := newWorld(t, engine, "")
		var logs bytes.Buffer
		w.svc.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		worker := &lifecycle.SweepWorker{Service: w.svc}
		require.NoError(t, worker.Work(w.ctx, &river.Job[lifecycle.SweepArgs]{}), "a sweep that works")

		require.NoError(t, w.st.DB().Close())
		_, err := w.svc.Sweep(w.ctx)
		require.Error(t, err, "the database is gone")
		require.NoError(t, worker.Work(w.ctx, &river.Job[lifecycle.SweepArgs]{}))
		require.Contains(t, logs.String(), "level=WARN msg=\"deadline sweep failed; the next sweep tries again\"")

		ctx, cancel := context.WithCancel(w.ctx)
		cancel()
		require.ErrorIs(t, worker.Work(ctx, &river.Job[lifecycle.SweepArgs]{}), context.Canceled, "a sweep cut short by a stop says so")
	})
}
