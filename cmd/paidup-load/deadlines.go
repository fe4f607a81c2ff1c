package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
)

// The deadlines scenario: a database holding a deadline for each of many
// subscriptions, due over the next month, and paidup's deadline machinery
// on it.
//
//  1. Scheduling. The table is filled to each of several levels; at each,
//     a batch of subscriptions set to cancel at their period's end is
//     synced through lifecycle.Service, concurrently, as a busy paidup
//     syncs them on its job workers: each sync schedules a period_end
//     deadline (its row and its River job) in the store transaction of
//     the sync. Between levels the bulk of the rows (customer, mirrored
//     subscription, deadline, River job) is loaded by multi-row SQL and
//     River's InsertManyFast, which is quicker; only the measured batches
//     take the real path.
//  2. Firing. With the table full, a River client works deadline jobs and
//     runs the sweep, as `paidup serve` configures them, in this process;
//     further deadlines, created through the real path, fall due over a
//     few minutes amid the others. Each one's lag is from its due time to
//     its effect (the period_end timeline entry, stamped when its
//     transaction began), and each must have exactly one.

type deadlineOptions struct {
	customers int
	levels    string
	batch     int
	syncers   int
	fire      int
	window    time.Duration
	lead      time.Duration
	idle      time.Duration
}

func (d *deadlineOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&d.customers, "deadlines-customers", 1_000_000, "deadlines: customers, each with a subscription with a deadline in the next 30 days")
	fs.StringVar(&d.levels, "deadlines-levels", "0,10000,100000,500000,1000000", "deadlines: table sizes at which scheduling is measured (capped at -deadlines-customers)")
	fs.IntVar(&d.batch, "deadlines-batch", 5000, "deadlines: deadlines scheduled through the real path at each level")
	fs.IntVar(&d.syncers, "deadlines-syncers", 32, "deadlines: concurrent syncs while scheduling")
	fs.IntVar(&d.fire, "deadlines-fire", 3000, "deadlines: deadlines that fall due while the machinery runs")
	fs.DurationVar(&d.window, "deadlines-window", 3*time.Minute, "deadlines: over how long they fall due")
	fs.DurationVar(&d.lead, "deadlines-lead", 20*time.Second, "deadlines: time from their creation to the first one's due time")
	fs.DurationVar(&d.idle, "deadlines-idle", 20*time.Second, "deadlines: CPU measured with nothing due, before they are created")
}

// deadlineSweepEvery is the sweep's interval in production.
const deadlineSweepEvery = 30 * time.Second

func (o *options) deadlines(ctx context.Context, engine string) error {
	d := o.dl
	dir := filepath.Join(o.work, "deadlines-"+engine)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dbase, err := o.database(ctx, engine, dir, "deadlines")
	if err != nil {
		return err
	}
	defer dbase.drop()
	db, err := sqldb.Open(ctx, dbase.url)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, store.Migrations); err != nil {
		return err
	}
	if _, err := queue.Migrate(ctx, db); err != nil {
		return err
	}
	st, err := store.New(db, time.Now)
	if err != nil {
		return err
	}
	proc := newMemBilling()
	svc := &lifecycle.Service{Store: st, Processor: proc, Policy: deadlinePolicy, Notify: &notify.Outbox{},
		Logger: slog.New(slog.DiscardHandler)}
	inserter, err := queue.NewInserter(db)
	if err != nil {
		return err
	}

	// 1. Scheduling cost at each fill level.
	var levels []int
	for _, f := range strings.Split(d.levels, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil {
			return fmt.Errorf("-deadlines-levels: %q: %w", f, err)
		}
		if n <= d.customers && !slices.Contains(levels, n) {
			levels = append(levels, n)
		}
	}
	slices.Sort(levels)
	fmt.Fprintf(o.out, "scheduling: %d customers, each a subscription with a deadline due in the next 30 days; at each level, %d deadlines scheduled\n"+
		"through the real path (lifecycle.Service syncing a subscription set to cancel at its period's end: deadline row (+ River job if due\n"+
		"within %s) in the sync's store transaction, %d syncs at once); the bulk between levels loaded by multi-row SQL (not measured)\n",
		d.customers, d.batch, lifecycle.JobHorizon, d.syncers)
	fmt.Fprintf(o.out, "%12s  %12s  %14s  %12s  %s\n", "deadlines", "deadlines/s", "µs/deadline", "vs first", "bulk load")
	in := 0 // deadlines in the table
	var first float64
	type point struct {
		level int
		us    float64
	}
	var points []point
	for i, level := range levels {
		bulk := ""
		if level > in {
			start := time.Now()
			if err := bulkDeadlines(ctx, db, inserter, in, level-in); err != nil {
				return fmt.Errorf("loading deadlines: %w", err)
			}
			el := time.Since(start)
			bulk = fmt.Sprintf("%d rows in %s (%.0f/s)", level-in, el.Round(100*time.Millisecond), rate(level-in, el))
			in = level
		}
		n := d.batch
		el, err := syncMany(ctx, svc, proc, fmt.Sprintf("l%d", i), n, d.syncers, func(int) time.Time {
			return time.Now().Add(time.Hour + rand.N(30*24*time.Hour))
		})
		if err != nil {
			return fmt.Errorf("scheduling at %d deadlines: %w", level, err)
		}
		in += n
		us := float64(el.Microseconds()) / float64(n)
		if i == 0 {
			first = us
		}
		points = append(points, point{level, us})
		fmt.Fprintf(o.out, "%12d  %12.0f  %14.1f  %11.2fx  %s\n", level, rate(n, el), us, us/first, bulk)
	}
	if got, err := countRows(ctx, db, `SELECT count(*) FROM deadlines`); err != nil {
		return err
	} else {
		fmt.Fprintf(o.out, "deadlines in the table: %d; River jobs scheduled (any kind): ", got)
	}
	if jobs, err := countRows(ctx, db, `SELECT count(*) FROM river_job WHERE state = 'scheduled'`); err != nil {
		return err
	} else {
		fmt.Fprintf(o.out, "%d\n", jobs)
	}
	last := points[len(points)-1]
	o.summary.add("deadlines", engine, fmt.Sprintf("schedule µs/deadline at %d vs %d rows", last.level, points[0].level),
		fmt.Sprintf("%.0f vs %.0f µs (%.2fx)", last.us, points[0].us, last.us/points[0].us), "~1x (flat)", verdict(last.us/points[0].us < 1.5))

	// The queries the machinery runs on every pass, with the table full.
	sweepQuery := timeQuery(20, func() error { _, err := st.DueDeadlines(ctx, time.Now(), 500); return err })
	schedQuery := timeQuery(20, func() error { return riverSchedulerQuery(ctx, db) })
	fmt.Fprintf(o.out, "with %d deadlines: the sweep's query (nothing due) takes %s (median of 20); River's scheduler's query %s\n",
		in, ms(sweepQuery), ms(schedQuery))
	// A chargeback cancels its customer's deadlines, in its transaction.
	var k atomic.Int64
	chargeback := timeQuery(20, func() error {
		cust := fmt.Sprintf("cu_bulk%d", k.Add(1)*7919%int64(max(in-d.batch*len(levels), 1)))
		return st.InTx(ctx, func(tx *store.Tx) error { _, err := tx.CancelCustomerDeadlines(ctx, cust); return err })
	})
	fmt.Fprintf(o.out, "a chargeback's cancelling of its customer's deadlines (CancelCustomerDeadlines and commit): %s (median of 20)\n", ms(chargeback))

	// 2. Firing amid the million.
	return o.fireDeadlines(ctx, engine, db, st, svc, proc, in, sweepQuery)
}

// fireDeadlines runs the deadline machinery and measures how late
// deadlines created now fire.
func (o *options) fireDeadlines(ctx context.Context, engine string, db *sqldb.DB, st *store.Store, svc *lifecycle.Service,
	proc *memBilling, in int, sweepQuery time.Duration) error {
	d := o.dl
	workers := river.NewWorkers()
	river.AddWorker(workers, &lifecycle.DeadlineWorker{Service: svc})
	sweeps := &timedSweeps{}
	river.AddWorker(workers, &lifecycle.SweepWorker{Service: svc})
	jobs, err := queue.New(db, queue.Config{
		ID: "paidup-load-deadlines", Workers: workers, PollInterval: 50 * time.Millisecond, FetchCooldown: 5 * time.Millisecond, MaxWorkers: 100,
		Logger: fileLogger(filepath.Join(o.work, "deadlines-"+engine, "jobs.log"), slog.LevelWarn),
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(deadlineSweepEvery),
			func() (river.JobArgs, *river.InsertOpts) { return lifecycle.SweepArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})},
	})
	if err != nil {
		return err
	}
	st.UseQueue(jobs)
	if err := jobs.Start(ctx); err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		jobs.Stop(c)
		cancel()
	}()

	// Meanwhile a write every 10 ms, as webhooks make them: how long
	// the machinery keeps others from writing.
	idle := startCPU(os.Getpid())
	var writes []time.Duration
	for end := time.Now().Add(d.idle); time.Now().Before(end); {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		start := time.Now()
		if err := st.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.CancelDeadlines(ctx, "stripe:sub_none")
			return err
		}); err != nil {
			return err
		}
		writes = append(writes, time.Since(start))
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(o.out, "firing: a River client works deadline jobs (100 workers, as paidup serve) with the sweep every %s, in this process\n", deadlineSweepEvery)
	fmt.Fprintf(o.out, "CPU with %d deadlines scheduled and none due, over %s: %s\n", in, d.idle, cpuLine(idle))
	fmt.Fprintf(o.out, "a small write transaction meanwhile, every 10 ms: %s\n", summarise(writes))
	sweeps.time(ctx, svc, 5)

	// The deadlines to watch: due one after another over the window.
	t0 := time.Now().Add(d.lead)
	step := d.window / time.Duration(max(d.fire, 1))
	due := map[string]time.Time{}
	el, err := syncMany(ctx, svc, proc, "fire", d.fire, d.syncers, func(i int) time.Time {
		return t0.Add(time.Duration(i) * step).Truncate(time.Second) // as the deadline's key holds it
	})
	if err != nil {
		return fmt.Errorf("creating the deadlines to fire: %w", err)
	}
	for i := range d.fire {
		id := fmt.Sprintf("sub_fire_%d", i)
		due[id] = proc.sub(id).CurrentPeriodEnd
	}
	fmt.Fprintf(o.out, "%d deadlines created through the real path in %s, due from %s over %s\n",
		d.fire, el.Round(time.Millisecond), d.lead, d.window)
	cpu := startCPU(os.Getpid())
	lastDue := t0.Add(d.window)
	stopBy := lastDue.Add(2 * deadlineSweepEvery)
	var fired map[string][]time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		fired, err = periodEnds(ctx, db)
		if err != nil {
			return err
		}
		if (len(fired) >= d.fire && time.Now().After(lastDue)) || time.Now().After(stopBy) {
			break
		}
	}
	cpuWindow := cpuLine(cpu)
	// Let a sweep or a late job show any second firing.
	time.Sleep(2 * time.Second)
	if fired, err = periodEnds(ctx, db); err != nil {
		return err
	}
	var lags []time.Duration
	dups, missing := 0, 0
	for sub, at := range due {
		f := fired[sub]
		switch {
		case len(f) == 0:
			missing++
			continue
		case len(f) > 1:
			dups++
		}
		lags = append(lags, f[0].Sub(at))
	}
	left, err := countRows(ctx, db, `SELECT count(*) FROM deadlines WHERE subject LIKE 'stripe:sub_fire_%'`)
	if err != nil {
		return err
	}
	l := summarise(lags)
	fmt.Fprintf(o.out, "fired: %d of %d due (effects: one period_end timeline entry each; %d with more than one, %d missing, %d of their rows left)\n",
		len(lags), d.fire, dups, missing, left)
	fmt.Fprintf(o.out, "lag, due -> effect's transaction: %s\n", l)
	fmt.Fprintf(o.out, "CPU while they fell due: %s\n", cpuWindow)
	sweeps.time(ctx, svc, 5)
	fmt.Fprintf(o.out, "a whole sweep (Service.Sweep, nothing overdue) with %d deadlines: %s\n", in, sweeps)
	ok := missing == 0 && dups == 0 && left == 0 && l.max <= time.Minute
	o.summary.add("deadlines", engine, fmt.Sprintf("firing lag p99 / max, %d amid %d", d.fire, in), fmt.Sprintf("%s / %s", ms(l.p99), ms(l.max)), "max <= 60 s", verdict(ok))
	o.summary.add("deadlines", engine, "fired / due; duplicates; sweep query", fmt.Sprintf("%d / %d; %d; %s", len(lags), d.fire, dups, ms(sweepQuery)), "all, once", verdict(len(lags) == d.fire && dups == 0))
	return nil
}

// timedSweeps times whole sweeps run directly.
type timedSweeps struct{ runs []time.Duration }

func (t *timedSweeps) time(ctx context.Context, svc *lifecycle.Service, n int) {
	for range n {
		start := time.Now()
		if _, err := svc.Sweep(ctx); err == nil {
			t.runs = append(t.runs, time.Since(start))
		}
	}
}

func (t *timedSweeps) String() string {
	l := summarise(t.runs)
	return fmt.Sprintf("median %s, max %s (n=%d)", ms(l.p50), ms(l.max), l.n)
}

func cpuLine(m *cpuMeter) string {
	wall := time.Since(m.start)
	s := "this process (the machinery) " + cpuShare(procCPU(m.pid)-m.proc, wall)
	if pg := postgresCPU() - m.pg; pg > 0 {
		s += ", PostgreSQL server " + cpuShare(pg, wall)
	}
	return s + fmt.Sprintf(", whole machine %s of %d", cpuShare(machineCPU()-m.mach, wall), runtime.NumCPU())
}

func timeQuery(n int, fn func() error) time.Duration {
	var ds []time.Duration
	for range n {
		start := time.Now()
		if err := fn(); err != nil {
			return -1
		}
		ds = append(ds, time.Since(start))
	}
	return summarise(ds).p50
}

// riverSchedulerQuery runs the selection River's scheduler makes every
// 5 s: the scheduled jobs now due.
func riverSchedulerQuery(ctx context.Context, db *sqldb.DB) error {
	q := `SELECT id FROM river_job WHERE state IN ('retryable', 'scheduled') AND priority >= 0 AND queue IS NOT NULL
		AND scheduled_at <= now() + interval '5 seconds' ORDER BY priority, scheduled_at, id LIMIT 10000`
	if db.Engine == sqldb.SQLite {
		q = `SELECT id FROM river_job WHERE state IN ('retryable', 'scheduled')
			AND scheduled_at <= datetime('now', 'subsec', '+5 seconds') ORDER BY priority, scheduled_at, id LIMIT 10000`
	}
	rows, err := db.Read.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// periodEnds lists, by subscription, when each period_end deadline of the
// watched subscriptions took effect.
func periodEnds(ctx context.Context, db *sqldb.DB) (map[string][]time.Time, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT data, at FROM timeline WHERE kind = 'subscription'
		AND summary LIKE 'The cancelled subscription''s paid period ended%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]time.Time{}
	for rows.Next() {
		var data string
		var at time.Time
		if err := rows.Scan(&data, &at); err != nil {
			return nil, err
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return nil, err
		}
		out[m["subscription"]] = append(out[m["subscription"]], at)
	}
	return out, rows.Err()
}

func countRows(ctx context.Context, db *sqldb.DB, q string) (int, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}

// syncMany creates n subscriptions set to cancel at their period's end
// (due(i)) and syncs each through the lifecycle, conc at a time, as the
// sync jobs of a busy paidup would: each sync schedules one deadline.
func syncMany(ctx context.Context, svc *lifecycle.Service, proc *memBilling, prefix string, n, conc int, due func(i int) time.Time) (time.Duration, error) {
	ids := make([]string, n)
	for i := range n {
		ids[i] = proc.cancelling(prefix, i, due(i))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := svc.SyncSubscription(ctx, ids[i], "", paidup.ByWebhook); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return el, err
	}
	return el, ctx.Err()
}

// bulkDeadlines adds n customers (numbered from offset), each with a
// mirrored subscription set to cancel at its period's end and its
// period_end deadline, due at random over the next 30 days, with its River
// job if due within lifecycle.JobHorizon: what the real path writes for
// them, less the grant and timeline.
func bulkDeadlines(ctx context.Context, db *sqldb.DB, jobs *queue.Client, offset, n int) error {
	const perTx, perStmt = 5000, 500
	now := time.Now().UTC().Truncate(time.Microsecond)
	for done := 0; done < n; {
		k := min(perTx, n-done)
		tx, err := db.Write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var params []river.InsertManyParams
		for s := 0; s < k; s += perStmt {
			m := min(perStmt, k-s)
			var cu, pc, sub, dl multiInsert
			for j := range m {
				i := offset + done + s + j
				cust, subID := fmt.Sprintf("cu_bulk%d", i), fmt.Sprintf("sub_bulk%d", i)
				due := now.Add(time.Hour + rand.N(30*24*time.Hour)).Truncate(time.Second)
				id := fmt.Sprintf("dl_bulk%d", i)
				cu.row(cust, fmt.Sprintf("bulk-%d@example.test", i), now)
				pc.row("stripe", "cus_bulk"+fmt.Sprint(i), cust)
				sub.row("stripe", subID, cust, deadlinePlan.ID, paidup.SubscriptionActive, due.AddDate(0, -1, 0), due, true, "", now, now)
				dl.row(id, fmt.Sprintf("period_end:stripe:%s:%d", subID, due.Unix()), lifecycle.DeadlinePeriodEnd, cust, "stripe:"+subID, due, "{}", now)
				if due.Sub(now) <= lifecycle.JobHorizon { // as lifecycle schedules them
					params = append(params, river.InsertManyParams{Args: lifecycle.DeadlineArgs{ID: id}, InsertOpts: &river.InsertOpts{ScheduledAt: due}})
				}
			}
			for _, st := range []struct {
				head string
				rows *multiInsert
			}{
				{`INSERT INTO customers (id, email, created_at) VALUES `, &cu},
				{`INSERT INTO processor_customers (processor, processor_id, customer_id) VALUES `, &pc},
				{`INSERT INTO subscriptions (processor, subscription_id, customer_id, plan_id, status, period_start, period_end,
					cancel_at_period_end, failing_invoice, created_at, updated_at) VALUES `, &sub},
				{`INSERT INTO deadlines (id, dedupe_key, kind, customer_id, subject, due_at, data, created_at) VALUES `, &dl},
			} {
				if _, err := tx.ExecContext(ctx, st.head+st.rows.values.String(), st.rows.args...); err != nil {
					tx.Rollback()
					return err
				}
			}
		}
		if len(params) > 0 {
			if _, err := jobs.InsertManyFastTx(ctx, tx, params); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// multiInsert builds the VALUES of a multi-row INSERT.
type multiInsert struct {
	values strings.Builder
	args   []any
}

func (m *multiInsert) row(vals ...any) {
	if len(m.args) > 0 {
		m.values.WriteString(", ")
	}
	m.values.WriteByte('(')
	for i, v := range vals {
		if i > 0 {
			m.values.WriteString(", ")
		}
		m.args = append(m.args, v)
		fmt.Fprintf(&m.values, "$%d", len(m.args))
	}
	m.values.WriteByte(')')
}

var deadlinePlan = paidup.Plan{ID: "pro-monthly", Name: "Pro monthly", Tier: "pro", PriceID: "price_pro_monthly",
	Amount: paidup.Money{Amount: 900, Currency: "usd"}, Interval: paidup.Monthly}

var deadlinePolicy = &paidup.Policy{
	Tiers: []paidup.Tier{{ID: "pro", Name: "Pro", Rank: 20}},
	Plans: []paidup.Plan{deadlinePlan},
	Lifecycle: paidup.Lifecycle{Grace: 7 * 24 * time.Hour, DoubleBuy: paidup.DoubleBuyCancel, Reminders: []paidup.Reminder{
		{After: 0, Template: "payment_failed"}, {After: 3 * 24 * time.Hour, Template: "payment_reminder"},
		{After: 6 * 24 * time.Hour, Template: "payment_final_reminder"}}},
}

// memBilling is the processor's side of the subscriptions synced through
// the real path, held in memory: what lifecycle.Service reads back, as it
// reads Stripe's, without the processor's own cost in the figures.
type memBilling struct {
	mu       sync.Mutex
	subs     map[string]paidup.ProcessorSubscription
	invoices map[string]paidup.ProcessorInvoice
}

func newMemBilling() *memBilling {
	return &memBilling{subs: map[string]paidup.ProcessorSubscription{}, invoices: map[string]paidup.ProcessorInvoice{}}
}

// cancelling records a subscription whose renewal was paid and which its
// customer has set to cancel at the end of the period, at end.
func (b *memBilling) cancelling(prefix string, i int, end time.Time) string {
	id := fmt.Sprintf("sub_%s_%d", prefix, i)
	start := end.AddDate(0, -1, 0)
	cus := fmt.Sprintf("cus_%s_%d", prefix, i)
	in := paidup.ProcessorInvoice{ID: "in_" + id, CustomerID: cus, CustomerEmail: fmt.Sprintf("%s-%d@example.test", prefix, i), SubscriptionID: id,
		Status: paidup.InvoicePaid, BillingReason: paidup.InvoiceForSubscriptionCycle, PaymentID: "pi_" + id, Amount: deadlinePlan.Amount,
		PriceIDs: []string{deadlinePlan.PriceID}, PeriodStart: start, PeriodEnd: end, PaidAt: start, AttemptCount: 1, Created: start}
	s := paidup.ProcessorSubscription{ID: id, CustomerID: cus, Status: paidup.SubscriptionActive, PriceIDs: []string{deadlinePlan.PriceID},
		CurrentPeriodStart: start, CurrentPeriodEnd: end, CancelAtPeriodEnd: true, CanceledAt: start, LatestInvoiceID: in.ID, Created: start}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[id], b.invoices[in.ID] = s, in
	return id
}

func (b *memBilling) sub(id string) paidup.ProcessorSubscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[id]
}

var errNoSuchObject = errors.New("no such object")

func (b *memBilling) Name() string { return "stripe" }

func (b *memBilling) Subscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.subs[id]
	if !ok {
		return s, errNoSuchObject
	}
	return s, nil
}

func (b *memBilling) Invoice(ctx context.Context, id string) (paidup.ProcessorInvoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	in, ok := b.invoices[id]
	if !ok {
		return in, errNoSuchObject
	}
	return in, nil
}

// CancelSubscription ends a subscription now (the deadlines' path does not
// cancel; a lifecycle.Processor may be asked to).
func (b *memBilling) CancelSubscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.subs[id]
	if !ok {
		return s, errNoSuchObject
	}
	s.Status, s.CanceledAt, s.EndedAt = paidup.SubscriptionCanceled, time.Now(), time.Now()
	b.subs[id] = s
	return s, nil
}

// Dispute finds nothing: no payment here is disputed.
func (b *memBilling) Dispute(ctx context.Context, id string) (paidup.ProcessorDispute, error) {
	return paidup.ProcessorDispute{}, errNoSuchObject
}

var _ lifecycle.Processor = (*memBilling)(nil)
