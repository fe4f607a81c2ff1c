// Package events receives processor events and acts on them. The Ingester
// commits each event with the job that processes it before the webhook is
// acknowledged, committing many concurrent webhooks in one transaction
// (group commit) so that durability costs one disk sync per batch, not per
// event. ProcessWorker then treats each event as a hint: it re-reads the
// object from the processor and fulfils, expires or refunds accordingly.
package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
)

// maxBatch bounds how many events one transaction commits.
const maxBatch = 256

// Ingester stores received events durably, in batches.
type Ingester struct {
	store *store.Store
	log   *slog.Logger
	reqs  chan *ingestRequest
	// stopped is closed when Run returns.
	stopped  chan struct{}
	stopOnce sync.Once
}

type ingestRequest struct {
	ev   store.WebhookEvent
	done chan ingestResult
}

type ingestResult struct {
	created bool
	err     error
}

// NewIngester returns an ingester; Run must be running for Ingest to
// return.
func NewIngester(s *store.Store, log *slog.Logger) *Ingester {
	return &Ingester{store: s, log: log, reqs: make(chan *ingestRequest, maxBatch), stopped: make(chan struct{})}
}

// ErrStopped is returned by Ingest once the ingester has stopped.
var ErrStopped = errors.New("event ingester stopped")

// Ingest stores an event with its processing job and returns once both are
// committed: only then may the webhook be acknowledged. created is false
// for an event already stored (a duplicate delivery).
func (in *Ingester) Ingest(ctx context.Context, ev store.WebhookEvent) (bool, error) {
	r := &ingestRequest{ev: ev, done: make(chan ingestResult, 1)}
	select {
	case in.reqs <- r:
	case <-in.stopped:
		return false, ErrStopped
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.created, res.err
	case <-in.stopped:
		// Run answers every batch it takes before it stops; a request
		// it left unanswered was never taken and never committed.
		select {
		case res := <-r.done:
			return res.created, res.err
		default:
			return false, ErrStopped
		}
	case <-ctx.Done():
		// It may yet commit; the sender retries and the retry is a
		// harmless duplicate.
		return false, ctx.Err()
	}
}

// Run commits queued events until ctx ends. Events that arrive while a
// batch commits form the next batch, so under load each commit carries many
// events, and with none waiting one event commits at once. On PostgreSQL,
// which commits transactions concurrently, a few batches commit at once;
// on SQLite, two, so that the next batch is gathered while one commits.
func (in *Ingester) Run(ctx context.Context) {
	committers := 2
	if in.store.DB().Engine == sqldb.Postgres {
		committers = 4
	}
	var wg sync.WaitGroup
	var gathering sync.Mutex // one committer gathers a batch at a time
	for range committers {
		wg.Go(func() {
			for {
				gathering.Lock()
				batch := in.gather(ctx)
				gathering.Unlock()
				if batch == nil {
					return
				}
				in.commit(context.WithoutCancel(ctx), batch)
			}
		})
	}
	wg.Wait()
	in.stopOnce.Do(func() { close(in.stopped) })
	in.drain()
}

// gather waits for a request, then takes every other one waiting, up to
// maxBatch; it returns nil once ctx ends.
func (in *Ingester) gather(ctx context.Context) []*ingestRequest {
	var batch []*ingestRequest
	select {
	case r := <-in.reqs:
		batch = append(batch, r)
	case <-ctx.Done():
		return nil
	}
	for len(batch) < maxBatch {
		select {
		case r := <-in.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain answers requests left when stopping.
func (in *Ingester) drain() {
	for {
		select {
		case r := <-in.reqs:
			r.done <- ingestResult{err: ErrStopped}
		default:
			return
		}
	}
}

// commit stores a batch in one transaction. If the batch fails, each event
// is tried alone, so that one bad event does not fail the others.
func (in *Ingester) commit(ctx context.Context, batch []*ingestRequest) {
	results, err := in.commitBatch(ctx, batch)
	if err == nil {
		for i, r := range batch {
			r.done <- ingestResult{created: results[i]}
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- ingestResult{err: err}
		return
	}
	in.log.Warn("committing a batch of events failed; retrying one by one", "events", len(batch), "err", err)
	for _, r := range batch {
		res, err := in.commitBatch(ctx, []*ingestRequest{r})
		if err != nil {
			r.done <- ingestResult{err: err}
			continue
		}
		r.done <- ingestResult{created: res[0]}
	}
}

// processJobs are the jobs InsertWebhookEventsWithJobs enqueues: what
// River's InsertMany would for ProcessArgs (its kind, its attempts, the
// args' JSON names), jobEvents events each.
var processJobs = store.EventJobs{Kind: ProcessArgs{}.Kind(), MaxAttempts: ProcessArgs{}.InsertOpts().MaxAttempts, ProcessorKey: "processor", IDsKey: "event_ids", PerJob: jobEvents}

func (in *Ingester) commitBatch(ctx context.Context, batch []*ingestRequest) ([]bool, error) {
	evs := make([]store.WebhookEvent, len(batch))
	for i, r := range batch {
		evs[i] = r.ev
	}
	failpoint.Inject("webhook.before_commit")
	created, err := in.store.InsertWebhookEventsWithJobs(ctx, evs, processJobs)
	if err != nil {
		return nil, err
	}
	failpoint.Inject("webhook.after_commit")
	return created, nil
}
