package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/paidup/paidup/internal/store"
)

// PruneArgs is the periodic job that prunes the stored payloads of
// processed events older than the retention (retention.event_payloads).
type PruneArgs struct{}

// Kind names the job.
func (PruneArgs) Kind() string { return "prune_event_payloads" }

// InsertOpts keep one run at a time, as the reconciler's.
func (PruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}}}
}

// PruneEvery is how often the leader runs the pruning job.
const PruneEvery = time.Hour

// PruneBatch is how many payloads one statement prunes: few enough that
// SQLite's writer is held for milliseconds (docs/performance.md), so that
// a webhook arriving meanwhile waits about as long as for any commit.
const PruneBatch = 100

// PruneWorker prunes, a batch at a time, the payloads of the events
// received more than Retention ago (business time) and processed; with
// no Retention, none.
type PruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	Store     *store.Store
	Retention time.Duration
	Logger    *slog.Logger
}

// Timeout allows a first run on a database that has kept every payload.
func (w *PruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return 10 * time.Minute }

// Work prunes until nothing older than the retention is left. A run that
// fails is logged at WARN and not retried: the next run, PruneEvery
// later, carries on where it stopped.
func (w *PruneWorker) Work(ctx context.Context, job *river.Job[PruneArgs]) error {
	if w.Retention == 0 {
		return nil
	}
	before := w.Store.Now().Add(-w.Retention)
	total := 0
	for {
		n, err := w.Store.PruneEventPayloads(ctx, before, PruneBatch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				w.Logger.Warn("pruning event payloads failed; the next run carries on", "pruned", total, "err", err)
			}
			return ctx.Err()
		}
		if n < PruneBatch {
			break
		}
	}
	if total > 0 {
		w.Logger.Info("pruned event payloads", "events", total, "received_before", before.Format(time.RFC3339))
	}
	return nil
}
