package lifecycle_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

var deadlineRows = flag.String("deadline-rows", "0,100000",
	"deadline benchmarks: pending deadlines (each with its River job) in the table before measuring, comma-separated")

// BenchmarkScheduleDeadline schedules deadlines (the row and its River
// job), each in a transaction of its own that commits, with the table
// already holding -deadline-rows pending deadlines: the cost per deadline
// should not depend on how many there are.
func BenchmarkScheduleDeadline(b *testing.B) {
	eachDeadlineTable(b, func(b *testing.B, e *deadlineBench) {
		ctx := context.Background()
		now := time.Now()
		for i := 0; b.Loop(); i++ {
			key := fmt.Sprintf("b%d_%d", e.seq.next(), i)
			err := e.st.InTx(ctx, func(tx *store.Tx) error {
				return lifecycle.Schedule(e.svc, ctx, tx, store.Deadline{Key: "period_end:stripe:" + key, Kind: lifecycle.DeadlinePeriodEnd,
					CustomerID: e.customer, Subject: "stripe:sub_" + key, Due: now.Add(time.Duration(i%720) * time.Hour)})
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFireDeadline fires due deadlines one by one, each with its
// effect (a cancelled subscription's period ends: a timeline entry), amid
// -deadline-rows pending ones.
func BenchmarkFireDeadline(b *testing.B) {
	eachDeadlineTable(b, func(b *testing.B, e *deadlineBench) {
		ctx := context.Background()
		// Due deadlines enough for the loop, added unmeasured.
		b.StopTimer()
		var ids []string
		err := e.st.InTx(ctx, func(tx *store.Tx) error {
			for i := range max(b.N, 1) {
				d, _, err := tx.AddDeadline(ctx, store.Deadline{Key: fmt.Sprintf("period_end:stripe:due%d_%d", e.seq.next(), i),
					Kind: lifecycle.DeadlinePeriodEnd, CustomerID: e.customer, Subject: "stripe:" + e.sub, Due: tx.Now().Add(-time.Minute)})
				if err != nil {
					return err
				}
				ids = append(ids, d.ID)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := range b.N {
			if err := e.svc.Fire(ctx, ids[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		var fired int
		if err := e.st.DB().Read.QueryRowContext(ctx, `SELECT count(*) FROM timeline WHERE kind = 'subscription'`).Scan(&fired); err != nil {
			b.Fatal(err)
		}
		if fired < b.N {
			b.Fatalf("%d deadlines fired, %d effects", b.N, fired)
		}
	})
}

type deadlineBench struct {
	st       *store.Store
	svc      *lifecycle.Service
	customer string // of the deadlines the benchmark adds
	sub      string // their subscription, mirrored
	seq      *counter
}

type counter struct{ n int }

func (c *counter) next() int { c.n++; return c.n }

// eachDeadlineTable runs fn as a sub-benchmark per engine and per size of
// -deadline-rows, on one database per engine filled up to each size in
// turn, outside the measurement.
func eachDeadlineTable(b *testing.B, fn func(b *testing.B, e *deadlineBench)) {
	var sizes []int
	for _, f := range strings.Split(*deadlineRows, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("-deadline-rows: %v", err)
		}
		sizes = append(sizes, n)
	}
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			e := newDeadlineBench(b, engine)
			filled := 0
			for _, n := range sizes {
				if n > filled {
					if err := fillDeadlines(e.st, filled, n-filled); err != nil {
						b.Fatal(err)
					}
					filled = n
				}
				b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) { fn(b, e) })
			}
		})
	}
}

func newDeadlineBench(b *testing.B, engine sqldb.Engine) *deadlineBench {
	ctx := context.Background()
	db := sqldbtest.Open(b, engine)
	if _, err := db.Migrate(ctx, store.Migrations); err != nil {
		b.Fatal(err)
	}
	if _, err := queue.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	st, err := store.New(db, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	e := &deadlineBench{st: st, sub: "sub_bench", seq: &counter{},
		svc: &lifecycle.Service{Store: st, Processor: newBilling(), Policy: testPolicy(paidup.DoubleBuyCancel),
			Notify: &notify.Outbox{}, Logger: slog.New(slog.DiscardHandler)}}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		if e.customer, _, err = tx.MatchCustomer(ctx, "stripe", "cus_bench", "bench@example.com"); err != nil {
			return err
		}
		return tx.PutSubscription(ctx, paidup.Subscription{Processor: "stripe", ID: e.sub, CustomerID: e.customer, PlanID: proMonthly.ID,
			Status: paidup.SubscriptionActive, PeriodStart: tx.Now(), PeriodEnd: tx.Now().Add(time.Hour), CancelAtPeriodEnd: true})
	})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// fillDeadlines adds n pending deadlines, due over the next 30 days, each
// of a customer of its own and with its River job, in large transactions
// (quicker than the real path; the benchmarks measure that).
func fillDeadlines(st *store.Store, offset, n int) error {
	ctx := context.Background()
	db := st.DB()
	jobs, err := queue.NewInserter(db)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	const perTx, perStmt = 5000, 500
	for done := 0; done < n; {
		tx, err := db.Write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var params []river.InsertManyParams
		for k := 0; k < perTx && done < n; k += perStmt {
			var cu, dl strings.Builder
			var cuArgs, dlArgs []any
			for j := 0; j < perStmt && done < n; j++ {
				i := offset + done
				done++
				id, cust := fmt.Sprintf("dl_fill%d", i), fmt.Sprintf("cu_fill%d", i)
				due := now.Add(time.Duration(i%(30*24*60)) * time.Minute)
				if len(cuArgs) > 0 {
					cu.WriteString(", ")
					dl.WriteString(", ")
				}
				p := len(cuArgs)
				fmt.Fprintf(&cu, "($%d, $%d, $%d)", p+1, p+2, p+3)
				cuArgs = append(cuArgs, cust, cust+"@example.com", now)
				p = len(dlArgs)
				fmt.Fprintf(&dl, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", p+1, p+2, p+3, p+4, p+5, p+6, p+7, p+8)
				dlArgs = append(dlArgs, id, "period_end:stripe:fill"+strconv.Itoa(i), lifecycle.DeadlinePeriodEnd, cust,
					"stripe:sub_fill"+strconv.Itoa(i), due, "{}", now)
				params = append(params, river.InsertManyParams{Args: lifecycle.DeadlineArgs{ID: id}, InsertOpts: &river.InsertOpts{ScheduledAt: due}})
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO customers (id, email, created_at) VALUES `+cu.String(), cuArgs...); err != nil {
				tx.Rollback()
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO deadlines (id, dedupe_key, kind, customer_id, subject, due_at, data, created_at) VALUES `+dl.String(), dlArgs...); err != nil {
				tx.Rollback()
				return err
			}
		}
		if _, err := jobs.InsertManyFastTx(ctx, tx, params); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
