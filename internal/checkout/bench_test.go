package checkout_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// named is a processor that only has a name: FulfilCheckout is given the
// checkout, and asks the processor nothing.
type named struct{ paidup.Processor }

func (named) Name() string { return "stripe" }

// BenchmarkFulfil measures FulfilCheckout for new paid checkouts, many at
// once: the transaction that records the payment, matches or creates the
// customer, grants access and queues the confirmation with its job. Its
// processor read (Fulfil's) is not included.
func BenchmarkFulfil(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			db := sqldbtest.Open(b, engine)
			if _, err := db.Migrate(ctx, store.Migrations); err != nil {
				b.Fatal(err)
			}
			if _, err := queue.Migrate(ctx, db); err != nil {
				b.Fatal(err)
			}
			s, err := store.New(db, time.Now)
			if err != nil {
				b.Fatal(err)
			}
			svc := &checkout.Service{Store: s, Processor: named{}, Policy: &policy, Notify: &notify.Outbox{},
				Logger: slog.New(slog.DiscardHandler), PublicURL: "http://paidup.test", FirstCheck: time.Minute}
			// The attempts the customers started, each with its processor
			// checkout, before the clock runs.
			cos := make([]paidup.Checkout, b.N)
			for i := range cos {
				ref := paidup.NewReference()
				if _, _, err := s.CreateCheckoutAttempt(ctx, paidup.CheckoutAttempt{Reference: ref, PlanID: proAnnual.ID,
					Email: fmt.Sprintf("buyer%d@example.com", i), Amount: proAnnual.Amount, Processor: "stripe", NextCheckAt: time.Now().Add(time.Minute)}); err != nil {
					b.Fatal(err)
				}
				id := fmt.Sprintf("cs_bench_%d", i)
				if err := s.OpenCheckoutAttempt(ctx, ref, id, "http://sandbox.test/c/pay/"+id); err != nil {
					b.Fatal(err)
				}
				cos[i] = paidup.Checkout{ID: id, Reference: ref, Status: paidup.CheckoutComplete, Paid: true,
					Email: fmt.Sprintf("buyer%d@example.com", i), Amount: proAnnual.Amount, PriceIDs: []string{proAnnual.PriceID},
					CustomerID: fmt.Sprintf("cus_bench_%d", i), PaymentID: fmt.Sprintf("pi_bench_%d", i),
					Created: time.Now(), PaidAt: time.Now()}
			}
			var next atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					co := cos[next.Add(1)-1]
					out, err := svc.FulfilCheckout(ctx, co, paidup.ByWebhook)
					if err != nil || out.State != paidup.AttemptFulfilled {
						b.Errorf("fulfilling %s: %v, %v", co.ID, out.State, err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fulfilments/s")
		})
	}
}

// searchIndex is what support's search (migration 19) adds to the rows a
// purchase writes: the email index, kept by triggers on SQLite (FTS5) and
// by the trigram indexes on PostgreSQL, and the timeline's indexes of
// refund and charge ids. without drops it; size reads its bytes.
var searchIndex = map[sqldb.Engine]struct{ without, size string }{
	sqldb.SQLite: {
		without: `DROP TRIGGER search_customer_added; DROP TRIGGER search_customer_changed; DROP TRIGGER search_attempt_added;
			DROP TABLE search_emails; DROP INDEX timeline_refund; DROP INDEX timeline_charge`,
		size: `SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'search_emails%' OR name IN ('timeline_refund', 'timeline_charge')`,
	},
	sqldb.Postgres: {
		without: `DROP INDEX customers_email_trgm, checkout_attempts_email_trgm, timeline_refund, timeline_charge`,
		size: `SELECT sum(pg_relation_size(i)) FROM unnest(ARRAY['customers_email_trgm', 'checkout_attempts_email_trgm',
			'timeline_refund', 'timeline_charge']::regclass[]) AS i`,
	},
}

// BenchmarkPurchaseSearch measures what support's search costs each
// purchase: the rows a purchase writes in paidup's database (its
// checkout attempt, then the fulfilment: customer, payment, grant,
// timeline, the confirmation and its job), 8 at a time, with the
// search's indexes and without them. Compare the two with benchstat
// (-col /search) from runs of -count several, which interleave them.
// Besides the time, it reports the CPU time a purchase took (this
// process's, and on PostgreSQL its backends'; steadier than the time on a
// machine doing other work), the database's growth per purchase and the
// search indexes' share of it.
func BenchmarkPurchaseSearch(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		for _, search := range []string{"on", "off"} {
			b.Run(fmt.Sprintf("%s/search=%s", engine, search), func(b *testing.B) {
				ctx := context.Background()
				db := sqldbtest.Open(b, engine)
				if _, err := db.Migrate(ctx, store.Migrations); err != nil {
					b.Fatal(err)
				}
				if _, err := queue.Migrate(ctx, db); err != nil {
					b.Fatal(err)
				}
				if search == "off" {
					if _, err := db.Write.ExecContext(ctx, searchIndex[engine].without); err != nil {
						b.Fatal(err)
					}
				}
				s, err := store.New(db, time.Now)
				if err != nil {
					b.Fatal(err)
				}
				svc := &checkout.Service{Store: s, Processor: named{}, Policy: &policy, Notify: &notify.Outbox{},
					Logger: slog.New(slog.DiscardHandler), PublicURL: "http://paidup.test", FirstCheck: time.Minute}
				before, cpuBefore := databaseBytes(b, db), cpuUsed(b, db)
				took := make([]time.Duration, b.N)
				var next atomic.Int64
				b.SetParallelism(8)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1) - 1
						start := time.Now()
						if err := purchase(ctx, s, svc, int(i)); err != nil {
							b.Error(err)
							return
						}
						took[i] = time.Since(start)
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(cpuUsed(b, db)-cpuBefore)/1e6/float64(b.N), "CPU-ms/purchase")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "purchases/s")
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)*99/100])/1e6, "p99-ms")
				b.ReportMetric(float64(databaseBytes(b, db)-before)/float64(b.N), "B/purchase")
				if search == "on" {
					var n int64
					if err := db.Read.QueryRowContext(ctx, searchIndex[engine].size).Scan(&n); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(n)/float64(b.N), "search-B/purchase")
				}
			})
		}
	}
}

// purchase writes purchase i's rows as paidup does: the customer's
// checkout attempt, its processor checkout, and its fulfilment once paid.
func purchase(ctx context.Context, s *store.Store, svc *checkout.Service, i int) error {
	ref := paidup.NewReference()
	email := fmt.Sprintf("buyer%d.%s@example.com", i, ref[3:7])
	if _, _, err := s.CreateCheckoutAttempt(ctx, paidup.CheckoutAttempt{Reference: ref, PlanID: proAnnual.ID,
		Email: email, Amount: proAnnual.Amount, Processor: "stripe", NextCheckAt: time.Now().Add(time.Minute)}); err != nil {
		return err
	}
	id := fmt.Sprintf("cs_bench_%d", i)
	if err := s.OpenCheckoutAttempt(ctx, ref, id, "http://sandbox.test/c/pay/"+id); err != nil {
		return err
	}
	out, err := svc.FulfilCheckout(ctx, paidup.Checkout{ID: id, Reference: ref, Status: paidup.CheckoutComplete, Paid: true,
		Email: email, Amount: proAnnual.Amount, PriceIDs: []string{proAnnual.PriceID},
		CustomerID: fmt.Sprintf("cus_bench_%d", i), PaymentID: fmt.Sprintf("pi_bench_%d", i),
		Created: time.Now(), PaidAt: time.Now()}, paidup.ByWebhook)
	if err == nil && out.State != paidup.AttemptFulfilled {
		err = fmt.Errorf("fulfilling %s: %s", id, out.State)
	}
	return err
}

// databaseBytes is the size of the database: its pages on SQLite (the
// write-ahead log's included), its files on PostgreSQL.
func databaseBytes(b *testing.B, db *sqldb.DB) int64 {
	q := `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	if db.Engine == sqldb.Postgres {
		q = `SELECT pg_database_size(current_database())`
	}
	var n int64
	if err := db.Read.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// cpuUsed is the CPU time this process has used and, on PostgreSQL, the
// server's backends connected to db's database, read from /proc: the
// benchmark runs on the server's machine.
func cpuUsed(b *testing.B, db *sqldb.DB) time.Duration {
	pids := []string{"self"}
	if db.Engine == sqldb.Postgres {
		rows, err := db.Read.QueryContext(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var pid string
			if err := rows.Scan(&pid); err != nil {
				b.Fatal(err)
			}
			pids = append(pids, pid)
		}
	}
	var ticks int64
	for _, pid := range pids {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			b.Fatalf("reading the CPU time of %s (the benchmark reads PostgreSQL's backends on its own machine): %v", pid, err)
		}
		// utime and stime, the 14th and 15th fields, counted after the
		// command's name in parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		for _, v := range f[11:13] {
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
