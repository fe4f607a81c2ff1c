package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// A pass that fails (here the processor is down; in the several-instance
// test, the database restarting) completes its job: the next pass tries
// again, and no discarded job is left behind for each failed pass.
func TestFailedPassCompletesItsJob(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, time.Hour, sandbox.Options{})
		b.start(t, "ada@example.com")
		b.clock.Advance(2 * time.Minute) // its first check is due
		b.processorDown(t)
		_, err := b.rec.Run(context.Background())
		require.Error(t, err, "the pass fails")

		workers := river.NewWorkers()
		river.AddWorker(workers, &reconcile.Worker{Reconciler: b.rec})
		jobs, err := queue.New(b.db, queue.Config{ID: "worker-test", Workers: workers, PollInterval: 20 * time.Millisecond})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		require.NoError(t, jobs.Start(ctx))
		defer jobs.Stop(context.Background())
		_, err = jobs.Insert(ctx, reconcile.RunArgs{}, nil)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			return b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'reconcile' AND finalized_at IS NOT NULL`) == 1
		}, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'reconcile' AND state = 'completed'`))
	})
}
