package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

type testBundle struct {
	db       *sqldb.DB
	store    *store.Store
	ingester *Ingester
	inserter *queue.Client
	logs     *syncBuffer
}

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setup opens a migrated store on a fresh database of engine, with an
// ingester that is not running yet.
func setup(t testing.TB, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{db: db, logs: &syncBuffer{}}
	b.store, err = store.New(db, time.Now)
	require.NoError(t, err)
	b.inserter, err = queue.NewInserter(db)
	require.NoError(t, err)
	b.ingester = NewIngester(b.store, slog.New(slog.NewTextHandler(b.logs, nil)))
	return b
}

// run starts the ingester; the returned function stops it and waits until
// it has stopped. It is stopped when the test ends, too.
func (b *testBundle) run(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.ingester.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func (b *testBundle) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Read.QueryRow(query, args...).Scan(&n))
	return n
}

// jobEvents lists the event ids the process_event jobs carry, sorted.
func (b *testBundle) jobEvents(t testing.TB) []string {
	t.Helper()
	res, err := b.inserter.JobList(context.Background(), river.NewJobListParams().Kinds(ProcessArgs{}.Kind()).First(10000))
	require.NoError(t, err)
	var ids []string
	for _, j := range res.Jobs {
		var args ProcessArgs
		require.NoError(t, json.Unmarshal(j.EncodedArgs, &args))
		require.Equal(t, "stripe", args.Processor)
		require.NotEmpty(t, args.events())
		require.LessOrEqual(t, len(args.events()), jobEvents)
		ids = append(ids, args.events()...)
	}
	slices.Sort(ids)
	return ids
}

func event(id string) store.WebhookEvent {
	return store.WebhookEvent{
		Processor: "stripe", ID: id, Type: "checkout.session.completed", ObjectType: "checkout.session", ObjectID: "cs_test_" + id,
		Created: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Payload: []byte(`{"id":"` + id + `","object":"event"}`),
	}
}

// Events ingested from many goroutines at once are each committed once,
// each with one processing job; delivered again, they add nothing.
func TestIngestConcurrently(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		b.run(t)

		const senders, each = 30, 10
		var ids []string
		for i := range senders * each {
			ids = append(ids, fmt.Sprintf("evt_%04d", i))
		}
		ingestAll := func() (created []bool, errs []error) {
			created, errs = make([]bool, len(ids)), make([]error, len(ids))
			var wg sync.WaitGroup
			for s := range senders {
				wg.Go(func() {
					for i := s * each; i < (s+1)*each; i++ {
						created[i], errs[i] = b.ingester.Ingest(ctx, event(ids[i]))
					}
				})
			}
			wg.Wait()
			return created, errs
		}

		created, errs := ingestAll()
		for i := range ids {
			require.NoError(t, errs[i])
			require.True(t, created[i], ids[i])
		}
		require.Equal(t, len(ids), b.count(t, `SELECT count(*) FROM webhook_events`))
		require.Equal(t, ids, b.jobEvents(t), "each event in one processing job")
		ev, err := b.store.WebhookEvent(ctx, "stripe", "evt_0123")
		require.NoError(t, err)
		require.Equal(t, event("evt_0123").Payload, ev.Payload)
		require.Equal(t, "cs_test_evt_0123", ev.ObjectID)
		require.Equal(t, store.ViaWebhook, ev.Via)
		require.Zero(t, ev.Processed)

		// Delivered again: acknowledged, not stored again, no new job.
		created, errs = ingestAll()
		for i := range ids {
			require.NoError(t, errs[i])
			require.False(t, created[i], ids[i])
		}
		require.Equal(t, len(ids), b.count(t, `SELECT count(*) FROM webhook_events`))
		require.Equal(t, ids, b.jobEvents(t))

		// The same new event delivered many times at once is new once.
		var wg sync.WaitGroup
		var news atomic.Int32
		errs = make([]error, 25)
		for i := range errs {
			wg.Go(func() {
				ok, err := b.ingester.Ingest(ctx, event("evt_same"))
				errs[i] = err
				if ok {
					news.Add(1)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, int32(1), news.Load())
		require.Len(t, b.jobEvents(t), len(ids)+1)
	})
}

// One event whose INSERT fails does not fail the events committed in the
// same batch: they are retried one by one, and only the bad one is refused.
func TestIngestPoisonedBatch(t *testing.T) {
	random := make([]byte, 3000)
	rand.Read(random)
	poisons := map[sqldb.Engine][]struct {
		name string
		ev   func(store.WebhookEvent) store.WebhookEvent
	}{
		sqldb.SQLite: {
			{"no payload", func(ev store.WebhookEvent) store.WebhookEvent { ev.Payload = nil; return ev }},
		},
		sqldb.Postgres: {
			{"no payload", func(ev store.WebhookEvent) store.WebhookEvent { ev.Payload = nil; return ev }},
			{"NUL in the id", func(ev store.WebhookEvent) store.WebhookEvent { ev.ID += "\x00"; return ev }},
			{"invalid UTF-8 in the type", func(ev store.WebhookEvent) store.WebhookEvent { ev.Type += "\xff"; return ev }},
			{"id too long to index", func(ev store.WebhookEvent) store.WebhookEvent { ev.ID += hex.EncodeToString(random); return ev }},
			{"time out of range", func(ev store.WebhookEvent) store.WebhookEvent {
				ev.Created = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
				return ev
			}},
		},
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		for _, p := range poisons[engine] {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := setup(t, engine)
				const n = 10
				evs := make([]store.WebhookEvent, n)
				for i := range evs {
					evs[i] = event(fmt.Sprintf("evt_%02d", i))
				}
				evs[n/2] = p.ev(evs[n/2])

				// Queue every event before the ingester runs, so that they
				// form one batch.
				created, errs := make([]bool, n), make([]error, n)
				var wg sync.WaitGroup
				for i := range evs {
					wg.Go(func() { created[i], errs[i] = b.ingester.Ingest(ctx, evs[i]) })
				}
				require.Eventually(t, func() bool { return len(b.ingester.reqs) == n }, 10*time.Second, time.Millisecond)
				b.run(t)
				wg.Wait()

				var good []string
				for i := range evs {
					if i == n/2 {
						require.Error(t, errs[i], "the poisoned event is refused")
						require.False(t, created[i])
						continue
					}
					require.NoError(t, errs[i], evs[i].ID)
					require.True(t, created[i], evs[i].ID)
					good = append(good, evs[i].ID)
				}
				require.Contains(t, b.logs.String(), "retrying one by one", "the events did share a batch")
				require.Equal(t, n-1, b.count(t, `SELECT count(*) FROM webhook_events`))
				require.Equal(t, good, b.jobEvents(t))

				// The ingester carries on.
				ok, err := b.ingester.Ingest(ctx, event("evt_after"))
				require.NoError(t, err)
				require.True(t, ok)
			})
		}
	})
}

// Once the ingester has stopped, Ingest says so at once rather than wait
// for a commit that will never come.
func TestIngestAfterStop(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		stop := b.run(t)
		ok, err := b.ingester.Ingest(context.Background(), event("evt_before"))
		require.NoError(t, err)
		require.True(t, ok)
		stop()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, 5)
		for i := range errs {
			wg.Go(func() { _, errs[i] = b.ingester.Ingest(ctx, event(fmt.Sprintf("evt_after_%d", i))) })
		}
		wg.Wait()
		for _, err := range errs {
			require.ErrorIs(t, err, ErrStopped)
		}
		require.NoError(t, ctx.Err(), "Ingest did not wait for the deadline")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM webhook_events`))
	})
}

// Ingest gives up when its caller does, whether or not the ingester runs.
func TestIngestCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, sqldb.SQLite)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.ingester.Ingest(ctx, event("evt_1"))
	require.ErrorIs(t, err, context.Canceled)
}

var (
	proAnnual = paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Tier: "pro", PriceID: "price_pro_annual",
		Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}}
	policy = paidup.Policy{Tiers: []paidup.Tier{{ID: "pro", Name: "Pro", Rank: 20}}, Plans: []paidup.Plan{proAnnual}}
)

type workerBundle struct {
	*testBundle
	sb      *sandboxtest.Server
	svc     *checkout.Service
	worker  *ProcessWorker
	done    <-chan *river.Event
	metrics *obs.Metrics
}

// setupWorker runs the ingester and a River client working process_event
// jobs against a sandbox processor.
func setupWorker(t *testing.T, engine sqldb.Engine) *workerBundle {
	t.Helper()
	ctx := context.Background()
	b := &workerBundle{testBundle: setup(t, engine)}
	b.run(t)
	b.sb = sandboxtest.Start(t, sandbox.Options{Prices: []sandbox.SeedPrice{
		{ID: proAnnual.PriceID, ProductName: proAnnual.Name, Amount: 24900, Currency: "usd"},
	}})
	log := slog.New(slog.NewJSONHandler(b.logs, nil))
	b.svc = &checkout.Service{Store: b.store, Processor: b.sb.Processor(), Policy: &policy, Notify: &notify.Outbox{},
		Logger: log, PublicURL: "http://paidup.test", FirstCheck: time.Minute}
	b.metrics = obs.NewMetrics()
	life := &lifecycle.Service{Store: b.store, Processor: b.sb.Processor(), Policy: &policy, Notify: &notify.Outbox{}, Logger: log}
	b.worker = &ProcessWorker{Store: b.store, Checkout: b.svc, Lifecycle: life, Logger: log, Metrics: b.metrics}
	workers := river.NewWorkers()
	river.AddWorker(workers, b.worker)
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[notify.SendArgs]) error { return nil }))
	client, err := queue.New(b.db, queue.Config{Workers: workers, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	done, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	t.Cleanup(cancel)
	b.done = done
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.Stop(ctx)
	})
	return b
}

// deliver ingests processor events as webhooks would and waits until their
// processing jobs have completed.
func (b *workerBundle) deliver(t *testing.T, evs ...sandboxtest.Event) {
	t.Helper()
	waiting := map[string]bool{}
	for _, ev := range evs {
		created, err := b.ingester.Ingest(context.Background(), store.WebhookEvent{
			Processor: "stripe", ID: ev.ID, Type: ev.Type, ObjectType: ev.ObjectType, ObjectID: ev.ObjectID, Created: ev.Created, Payload: ev.Payload,
		})
		require.NoError(t, err)
		require.True(t, created)
		waiting[ev.ID] = true
	}
	timeout := time.After(30 * time.Second)
	for len(waiting) > 0 {
		select {
		case e := <-b.done:
			if e.Job.Kind != (ProcessArgs{}).Kind() {
				continue
			}
			var args ProcessArgs
			require.NoError(t, json.Unmarshal(e.Job.EncodedArgs, &args))
			require.Equal(t, river.EventKindJobCompleted, e.Kind, "processing %s: %v", args.events(), e.Job.Errors)
			for _, id := range args.events() {
				delete(waiting, id)
			}
		case <-timeout:
			t.Fatalf("events not processed: %v", waiting)
		}
	}
}

// eventOf finds the processor's event of a type about an object.
func (b *workerBundle) eventOf(t *testing.T, typ, objectID string) sandboxtest.Event {
	t.Helper()
	for _, ev := range b.sb.Events(t, typ) {
		if ev.ObjectID == objectID {
			return ev
		}
	}
	t.Fatalf("no %s event about %s", typ, objectID)
	return sandboxtest.Event{}
}

func (b *workerBundle) timeline(t *testing.T, ref string) []string {
	t.Helper()
	entries, err := b.store.Timeline(context.Background(), "", ref)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Summary)
	}
	return out
}

func countPrefix(ss []string, prefix string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// The processing job turns a stored event into what it stands for: a paid
// checkout into a grant (once, however many events concern it), a refund
// into revoked access; other events are ignored.
func TestProcessWorker(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setupWorker(t, engine)
		a, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
		require.NoError(t, err)
		b.sb.Pay(t, a.CheckoutID, nil)
		co, err := b.svc.Processor.Checkout(ctx, a.CheckoutID)
		require.NoError(t, err)
		tables := func() map[string]int {
			out := map[string]int{}
			for _, table := range []string{"customers", "payments", "grants", "emails", "support_cases"} {
				out[table] = b.count(t, "SELECT count(*) FROM "+table)
			}
			return out
		}

		completed := b.eventOf(t, "checkout.session.completed", a.CheckoutID)
		b.deliver(t, completed)
		got, err := b.store.CheckoutAttempt(ctx, a.Reference)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, got.Status)
		grants, err := b.store.Grants(ctx, got.CustomerID)
		require.NoError(t, err)
		require.Len(t, grants, 1)
		require.Equal(t, "stripe:"+co.PaymentID, grants[0].SourceRef)
		ev, err := b.store.WebhookEvent(ctx, "stripe", completed.ID)
		require.NoError(t, err)
		require.NotZero(t, ev.Processed)
		timeline := b.timeline(t, a.Reference)
		require.Equal(t, 1, countPrefix(timeline, "Payment of $249.00 confirmed by the processor (webhook)"), "%q", timeline)
		require.Equal(t, 1, countPrefix(timeline, "Webhook received: checkout.session.completed"))
		after := tables()
		require.Equal(t, map[string]int{"customers": 1, "payments": 1, "grants": 1, "emails": 1, "support_cases": 0}, after)

		// More events about the same checkout: nothing more happens.
		copied := completed
		copied.ID = completed.ID + "_resent"
		b.deliver(t, b.eventOf(t, "payment_intent.succeeded", co.PaymentID), copied)
		require.Equal(t, after, tables())
		timeline = b.timeline(t, a.Reference)
		require.Equal(t, 1, countPrefix(timeline, "Payment of"), "%q", timeline)
		require.Equal(t, 1, countPrefix(timeline, "Webhook received: payment_intent.succeeded"))
		require.Equal(t, 2, countPrefix(timeline, "Webhook received: checkout.session.completed"))

		// Events paidup does not act on are processed and ignored.
		cust := b.eventOf(t, "customer.created", co.CustomerID)
		made := sandboxtest.Event{ID: "evt_madeup", Type: "invoice.something_new", ObjectType: "invoice", ObjectID: "in_1", Created: time.Now(),
			Payload: []byte(`{"id":"evt_madeup","object":"event","type":"invoice.something_new","data":{"object":{"id":"in_1","object":"invoice"}}}`)}
		b.deliver(t, cust, made)
		require.Equal(t, after, tables())
		for _, id := range []string{cust.ID, made.ID} {
			ev, err := b.store.WebhookEvent(ctx, "stripe", id)
			require.NoError(t, err)
			require.NotZero(t, ev.Processed, id)
		}

		// A job run again for an event already processed does nothing.
		require.NoError(t, b.worker.Work(ctx, &river.Job[ProcessArgs]{Args: ProcessArgs{Processor: "stripe", EventID: completed.ID}}))
		require.Equal(t, after, tables())

		// A full refund ends the access.
		b.sb.Refund(t, co.PaymentID, 0)
		refunds := b.sb.Events(t, "charge.refunded")
		require.Len(t, refunds, 1)
		b.deliver(t, refunds[0])
		grants, err = b.store.Grants(ctx, got.CustomerID)
		require.NoError(t, err)
		require.NotZero(t, grants[0].Revoked)
		require.False(t, policy.AccessAt(grants, nil, time.Now()).Active)
		timeline = b.timeline(t, a.Reference)
		require.Equal(t, 1, countPrefix(timeline, "Access ended: the payment was refunded in full"), "%q", timeline)
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
	})
}

// A succeeded payment carrying paidup's reference fulfils its checkout even
// when the checkout's own event never arrives; an expired checkout's event
// settles its attempt.
func TestProcessWorkerOtherEvents(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setupWorker(t, engine)

		paid, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
		require.NoError(t, err)
		b.sb.Pay(t, paid.CheckoutID, nil)
		co, err := b.svc.Processor.Checkout(ctx, paid.CheckoutID)
		require.NoError(t, err)
		b.deliver(t, b.eventOf(t, "payment_intent.succeeded", co.PaymentID))
		got, err := b.store.CheckoutAttempt(ctx, paid.Reference)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, got.Status)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))

		expired, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "bob@example.com")
		require.NoError(t, err)
		b.sb.Expire(t, expired.CheckoutID)
		b.deliver(t, b.eventOf(t, "checkout.session.expired", expired.CheckoutID))
		got, err = b.store.CheckoutAttempt(ctx, expired.Reference)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptExpired, got.Status)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))
	})
}

// BenchmarkIngest measures how many webhooks per second the group-committed
// ingester makes durable, with many senders at once.
func BenchmarkIngest(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			tb := setup(b, engine)
			tb.run(b)
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("evt_bench_%d", next.Add(1))
					if ok, err := tb.ingester.Ingest(ctx, event(id)); err != nil || !ok {
						b.Errorf("ingesting %s: created %v, %v", id, ok, err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// One job carries the events committed together. Each is processed in
// turn; one that fails does not stop the others, which are marked
// processed and passed over when River runs the job again.
func TestProcessWorkerManyEvents(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setupWorker(t, engine)
		var refs []string
		var evs []string
		for _, email := range []string{"ada@example.com", "bob@example.com"} {
			a, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), email)
			require.NoError(t, err)
			b.sb.Pay(t, a.CheckoutID, nil)
			co, err := b.svc.Processor.Checkout(ctx, a.CheckoutID)
			require.NoError(t, err)
			refs = append(refs, a.Reference)
			for _, ev := range []sandboxtest.Event{b.eventOf(t, "checkout.session.completed", a.CheckoutID), b.eventOf(t, "payment_intent.succeeded", co.PaymentID)} {
				// Stored, as the ingester stores them, but not yet processed.
				require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
					_, err := tx.InsertWebhookEvents(ctx, []store.WebhookEvent{{Processor: "stripe", ID: ev.ID, Type: ev.Type,
						ObjectType: ev.ObjectType, ObjectID: ev.ObjectID, Created: ev.Created, Payload: ev.Payload}})
					return err
				}))
				evs = append(evs, ev.ID)
			}
		}
		job := &river.Job[ProcessArgs]{Args: ProcessArgs{Processor: "stripe", EventID: evs[0], EventIDs: []string{evs[1], "evt_never_stored", evs[2], evs[3]}}}
		err := b.worker.Work(ctx, job)
		require.Error(t, err, "the event that is not stored fails the job")
		for _, ref := range refs {
			a, err := b.store.CheckoutAttempt(ctx, ref)
			require.NoError(t, err)
			require.Equal(t, paidup.AttemptFulfilled, a.Status)
			timeline := b.timeline(t, ref)
			require.Equal(t, 1, countPrefix(timeline, "Webhook received: checkout.session.completed"), "%q", timeline)
			require.Equal(t, 1, countPrefix(timeline, "Webhook received: payment_intent.succeeded"), "%q", timeline)
		}
		for _, id := range evs {
			ev, err := b.store.WebhookEvent(ctx, "stripe", id)
			require.NoError(t, err)
			require.NotZero(t, ev.Processed, id)
		}
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM grants`))

		// Run again, as River retries it: the processed events are passed
		// over, and nothing happens twice.
		require.Error(t, b.worker.Work(ctx, job))
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM grants`))
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM emails`))
		for _, ref := range refs {
			require.Equal(t, 1, countPrefix(b.timeline(t, ref), "Webhook received: checkout.session.completed"))
		}
	})
}

// A burst of events becomes a few jobs, each carrying up to jobEvents of
// them, and an event delivered twice in one batch is stored once.
func TestIngestBatchJobs(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		const n = 40
		evs := make([]store.WebhookEvent, n)
		for i := range evs {
			evs[i] = event(fmt.Sprintf("evt_%02d", i))
		}
		evs[n-1] = evs[0] // a duplicate in the same batch
		created, errs := make([]bool, n), make([]error, n)
		var wg sync.WaitGroup
		for i := range evs {
			wg.Go(func() { created[i], errs[i] = b.ingester.Ingest(ctx, evs[i]) })
		}
		require.Eventually(t, func() bool { return len(b.ingester.reqs) == n }, 10*time.Second, time.Millisecond)
		b.run(t)
		wg.Wait()
		news := 0
		for i := range evs {
			require.NoError(t, errs[i])
			if created[i] {
				news++
			}
		}
		require.Equal(t, n-1, news, "the duplicate is new once")
		require.Equal(t, n-1, b.count(t, `SELECT count(*) FROM webhook_events`))
		jobs := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'process_event'`)
		require.Equal(t, (n-1+jobEvents-1)/jobEvents, jobs, "one batch, in jobs of up to %d events", jobEvents)
		ids := b.jobEvents(t)
		require.Len(t, ids, n-1)
	})
}

// A batch's jobs carry its new events in the order received, jobEvents at
// most each, in the form the processing worker reads, on both engines (on
// PostgreSQL they are written by one statement of paidup's, not by River).
func TestIngestJobsKeepOrder(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		var batch []*ingestRequest
		var want []string
		for i := 39; i >= 0; i-- {
			ev := event(fmt.Sprintf("evt_%02d", i))
			batch = append(batch, &ingestRequest{ev: ev})
			want = append(want, ev.ID)
		}
		batch = append(batch, &ingestRequest{ev: event("evt_39")}) // again: not new
		created, err := b.ingester.commitBatch(ctx, batch)
		require.NoError(t, err)
		require.Equal(t, append(slices.Repeat([]bool{true}, 40), false), created)

		res, err := b.inserter.JobList(ctx, river.NewJobListParams().Kinds(ProcessArgs{}.Kind()).OrderBy(river.JobListOrderByID, river.SortOrderAsc).First(100))
		require.NoError(t, err)
		require.Len(t, res.Jobs, 3)
		var got []string
		for _, j := range res.Jobs {
			var args ProcessArgs
			require.NoError(t, json.Unmarshal(j.EncodedArgs, &args))
			require.Equal(t, "stripe", args.Processor)
			require.LessOrEqual(t, len(args.EventIDs), jobEvents)
			require.Equal(t, ProcessArgs{}.InsertOpts().MaxAttempts, j.MaxAttempts)
			require.Equal(t, rivertype.JobStateAvailable, j.State)
			require.Equal(t, 1, j.Priority)
			require.Equal(t, river.QueueDefault, j.Queue)
			require.WithinDuration(t, time.Now(), j.ScheduledAt, time.Minute) // due now, not in the future or the far past
			got = append(got, args.EventIDs...)
		}
		require.Equal(t, want, got)
	})
}
