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

	"github.com/riverqueue/river"

	"github.com/paidup/paidup/internal/failpoint"
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
// events, and with none waiting one event commits at once.
func (in *Ingester) Run(ctx context.Context) {
	for {
		var batch []*ingestRequest
		select {
		case r := <-in.reqs:
			batch = append(batch, r)
		case <-ctx.Done():
			in.stopOnce.Do(func() { close(in.stopped) })
			in.drain()
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		in.commit(context.WithoutCancel(ctx), batch)
	}
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

func (in *Ingester) commitBatch(ctx context.Context, batch []*ingestRequest) ([]bool, error) {
	created := make([]bool, len(batch))
	err := in.store.InTx(ctx, func(tx *store.Tx) error {
		var jobs []river.InsertManyParams
		for i, r := range batch {
			ok, err := tx.InsertWebhookEvent(ctx, r.ev)
			if err != nil {
				return err
			}
			created[i] = ok
			if ok {
				jobs = append(jobs, river.InsertManyParams{Args: ProcessArgs{Processor: r.ev.Processor, EventID: r.ev.ID}})
			}
		}
		if err := tx.EnqueueMany(ctx, jobs); err != nil {
			return err
		}
		failpoint.Inject("webhook.before_commit")
		return nil
	})
	if err != nil {
		return nil, err
	}
	failpoint.Inject("webhook.after_commit")
	return created, nil
}
