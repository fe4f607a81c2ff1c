package lifecycle_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// TestDeadlineJobsComeWithinTheHorizon: a deadline far off has no job
// (a million of them would be a million scheduled jobs for River's
// scheduler to read every few seconds); a sweep gives it one, once, when
// it comes within lifecycle.JobHorizon, set for its due time; and it
// fires once.
func TestDeadlineJobsComeWithinTheHorizon(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		w := newWorld(t, engine, "")
		ctx, st, clock, svc, db := w.ctx, w.st, w.clock, w.svc, w.st.DB()

		far, near := clock.Now().Add(30*24*time.Hour), clock.Now().Add(5*time.Minute)
		require.NoError(t, st.InTx(ctx, func(tx *store.Tx) error {
			cu, _, err := tx.MatchCustomer(ctx, "stripe", "cus_1", "ada@example.com")
			if err != nil {
				return err
			}
			for key, due := range map[string]time.Time{"far": far, "near": near} {
				if err := lifecycle.Schedule(svc, ctx, tx, store.Deadline{Key: "period_end:stripe:" + key, Kind: lifecycle.DeadlinePeriodEnd,
					CustomerID: cu, Subject: "stripe:sub_" + key, Due: due}); err != nil {
					return err
				}
			}
			return nil
		}))
		jobs := func() []time.Time {
			rows, err := db.Read.QueryContext(ctx, `SELECT scheduled_at FROM river_job WHERE kind = 'deadline' ORDER BY scheduled_at`)
			require.NoError(t, err)
			defer rows.Close()
			var out []time.Time
			for rows.Next() {
				var at time.Time
				require.NoError(t, rows.Scan(&at))
				out = append(out, at.UTC())
			}
			require.NoError(t, rows.Err())
			return out
		}
		require.Equal(t, []time.Time{near}, jobs(), "only the near deadline has a job")

		// Sweeps, every 30 s, as the far one comes near.
		_, err := svc.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, []time.Time{near}, jobs())
		clock.Advance(far.Sub(clock.Now()) - lifecycle.JobHorizon - time.Minute)
		for range 4 {
			_, err = svc.Sweep(ctx)
			require.NoError(t, err)
			clock.Advance(30 * time.Second)
		}
		require.Equal(t, []time.Time{near, far}, jobs(), "a sweep gave the far deadline its job, once, at its due time")

		// A Service that has not swept yet (another instance, a restart)
		// gives none twice.
		fresh := &lifecycle.Service{Store: st, Processor: svc.Processor, Policy: svc.Policy, Notify: svc.Notify, Logger: svc.Logger, RealNow: clock.Now}
		_, err = fresh.Sweep(ctx)
		require.NoError(t, err)
		require.Len(t, jobs(), 2)

		clock.Advance(far.Sub(clock.Now()))
		_, err = svc.Sweep(ctx)
		require.NoError(t, err)
		var left int
		require.NoError(t, db.Read.QueryRowContext(ctx, `SELECT count(*) FROM deadlines`).Scan(&left))
		require.Zero(t, left, "both deadlines fired")
	})
}

// TestManyDeadlinesFireAtOnce: more deadlines fire at once than
// PostgreSQL's pool has connections (paidup runs 100 job workers), each
// in its transaction; none may wait on a second connection meanwhile.
func TestManyDeadlinesFireAtOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db := sqldbtest.Open(t, engine)
		_, err := db.Migrate(ctx, store.Migrations)
		require.NoError(t, err)
		_, err = queue.Migrate(ctx, db)
		require.NoError(t, err)
		st, err := store.New(db, time.Now)
		require.NoError(t, err)
		svc := &lifecycle.Service{Store: st, Processor: newBilling(), Policy: testPolicy(paidup.DoubleBuyCancel),
			Notify: &notify.Outbox{}, Logger: slog.New(slog.DiscardHandler)}
		const n = 60
		var ids []string
		require.NoError(t, st.InTx(ctx, func(tx *store.Tx) error {
			for i := range n {
				cu, _, err := tx.MatchCustomer(ctx, "stripe", fmt.Sprintf("cus_%d", i), fmt.Sprintf("c%d@example.com", i))
				if err != nil {
					return err
				}
				sub := fmt.Sprintf("sub_%d", i)
				if err := tx.PutSubscription(ctx, paidup.Subscription{Processor: "stripe", ID: sub, CustomerID: cu, PlanID: proMonthly.ID,
					Status: paidup.SubscriptionActive, PeriodStart: tx.Now(), PeriodEnd: tx.Now(), CancelAtPeriodEnd: true}); err != nil {
					return err
				}
				d, _, err := tx.AddDeadline(ctx, store.Deadline{Key: "period_end:stripe:" + sub, Kind: lifecycle.DeadlinePeriodEnd,
					CustomerID: cu, Subject: "stripe:" + sub, Due: tx.Now().Add(-time.Second)})
				if err != nil {
					return err
				}
				ids = append(ids, d.ID)
			}
			return nil
		}))
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, id := range ids {
			wg.Go(func() { errs <- svc.Fire(ctx, id) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		var effects int
		require.NoError(t, db.Read.QueryRowContext(ctx, `SELECT count(*) FROM timeline WHERE summary LIKE 'The cancelled subscription%'`).Scan(&effects))
		require.Equal(t, n, effects)
	})
}
