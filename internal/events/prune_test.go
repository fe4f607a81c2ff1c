package events

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// The pruning job, run by the job queue, prunes every processed payload
// older than the retention, more than one batch of them, and keeps the
// rest; it says what it did once.
func TestPruneWorker(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		s, err := store.New(b.db, func() time.Time { return now })
		require.NoError(t, err)
		receive := func(prefix string, n int, process bool) {
			t.Helper()
			var evs []store.WebhookEvent
			for i := range n {
				evs = append(evs, store.WebhookEvent{Processor: "stripe", ID: fmt.Sprintf("evt_%s_%d", prefix, i), Type: "charge.succeeded",
					ObjectType: "charge", ObjectID: "ch_1", Created: now, Payload: []byte(`{"object":"event"}`)})
			}
			_, err := s.InsertWebhookEventsWithJobs(ctx, evs, store.EventJobs{Kind: "unworked", MaxAttempts: 1, ProcessorKey: "processor", IDsKey: "event_ids", PerJob: 16})
			require.NoError(t, err)
			if process {
				for _, ev := range evs {
					require.NoError(t, s.MarkWebhookEventProcessed(ctx, "stripe", ev.ID))
				}
			}
		}
		receive("old", PruneBatch*2+50, true)
		receive("waiting", 3, false)
		now = now.Add(40 * 24 * time.Hour)
		receive("recent", 5, true)
		now = now.Add(24 * time.Hour)

		logs := &syncBuffer{}
		workers := river.NewWorkers()
		river.AddWorker(workers, &PruneWorker{Store: s, Retention: 30 * 24 * time.Hour, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		jobs, err := queue.New(b.db, queue.Config{ID: "prune-test", Workers: workers, PollInterval: 20 * time.Millisecond})
		require.NoError(t, err)
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		require.NoError(t, jobs.Start(runCtx))
		defer jobs.Stop(ctx)
		_, err = jobs.Insert(ctx, PruneArgs{}, nil)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			var n int
			b.db.Read.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'prune_event_payloads' AND state = 'completed'`).Scan(&n)
			return n == 1
		}, 10*time.Second, 20*time.Millisecond)

		counts := map[string]int{}
		rows, err := b.db.Read.Query(`SELECT substr(event_id, 5, 3), length(payload) > 0, count(*) FROM webhook_events GROUP BY 1, 2`)
		require.NoError(t, err)
		for rows.Next() {
			var group string
			var kept bool
			var n int
			require.NoError(t, rows.Scan(&group, &kept, &n))
			counts[fmt.Sprintf("%s kept=%v", group, kept)] = n
		}
		require.NoError(t, rows.Close())
		require.Equal(t, map[string]int{"old kept=false": PruneBatch*2 + 50, "wai kept=true": 3, "rec kept=true": 5}, counts)
		require.Contains(t, logs.String(), fmt.Sprintf("msg=\"pruned event payloads\" events=%d", PruneBatch*2+50))
	})
}
