package checkout_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
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
