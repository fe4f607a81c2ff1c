package reconcile_test

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
)

var (
	proAnnual = paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Tier: "pro", PriceID: "price_pro_annual",
		Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}}
	policy   = paidup.Policy{Tiers: []paidup.Tier{{ID: "pro", Name: "Pro", Rank: 20}}, Plans: []paidup.Plan{proAnnual}}
	schedule = []time.Duration{time.Minute, 5 * time.Minute, time.Hour}
	onCall   = []string{"oncall@example.com"}
	t0       = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

type testBundle struct {
	db       *sqldb.DB
	store    *store.Store
	clock    *sandboxtest.Clock
	sb       *sandboxtest.Server
	svc      *checkout.Service // the purchase path, as the web server runs it
	rec      *reconcile.Reconciler
	inserter *queue.Client
}

// setup runs a reconciler on a fresh database of engine against a sandbox
// that delivers no webhooks, on a business clock the test moves. The
// first sweep looks back lookback.
func setup(t *testing.T, engine sqldb.Engine, lookback time.Duration, opts sandbox.Options) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{db: db, clock: sandboxtest.NewClock(t0)}
	opts.Now = b.clock.Now
	opts.Prices = []sandbox.SeedPrice{{ID: proAnnual.PriceID, ProductName: proAnnual.Name, Amount: 24900, Currency: "usd"}}
	b.sb = sandboxtest.Start(t, opts)
	b.store, err = store.New(db, b.clock.Now)
	require.NoError(t, err)
	b.inserter, err = queue.NewInserter(db)
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	outbox := &notify.Outbox{OnCall: onCall}
	b.svc = &checkout.Service{Store: b.store, Processor: b.sb.Processor(), Policy: &policy, Notify: outbox,
		Logger: log, PublicURL: "http://paidup.test", FirstCheck: schedule[0]}
	ingester := events.NewIngester(b.store, log)
	ictx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ingester.Run(ictx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	svc := *b.svc
	b.rec = &reconcile.Reconciler{Store: b.store, Checkout: &svc, Ingester: ingester, Notify: outbox, Logger: log,
		Schedule: schedule, Overlap: 5 * time.Second, Lookback: lookback}
	return b
}

// processorDown points the reconciler at a processor nothing answers for.
func (b *testBundle) processorDown(t *testing.T) {
	b.rec.Checkout.Processor = sandboxtest.Unreachable(t)
}

func (b *testBundle) run(t *testing.T) reconcile.Report {
	t.Helper()
	rep, err := b.rec.Run(context.Background())
	require.NoError(t, err)
	return rep
}

func (b *testBundle) attempt(t *testing.T, ref string) paidup.CheckoutAttempt {
	t.Helper()
	a, err := b.store.CheckoutAttempt(context.Background(), ref)
	require.NoError(t, err)
	return a
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Read.QueryRow(query, args...).Scan(&n))
	return n
}

func (b *testBundle) start(t *testing.T, email string) paidup.CheckoutAttempt {
	t.Helper()
	a, err := b.svc.Start(context.Background(), proAnnual, paidup.NewReference(), email)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptOpen, a.Status)
	return a
}

func (b *testBundle) cursor(t *testing.T, name string) time.Time {
	t.Helper()
	pos, err := b.store.SweepCursor(context.Background(), name)
	require.NoError(t, err)
	at, err := time.Parse(time.RFC3339, pos)
	require.NoError(t, err, "cursor %s = %q", name, pos)
	return at
}

func (b *testBundle) timeline(t *testing.T, ref string) []string {
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

// With no webhook ever delivered, a paid checkout is fulfilled when its
// first check comes due, and only once.
func TestRunFulfilsPaidCheckoutWhenDue(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, 10*time.Second, sandbox.Options{})
		a := b.start(t, "ada@example.com")
		b.sb.Pay(t, a.CheckoutID, nil)

		b.clock.Advance(30 * time.Second)
		require.Equal(t, reconcile.Report{}, b.run(t), "not due yet, and older than the sweeps look")
		require.Equal(t, paidup.AttemptOpen, b.attempt(t, a.Reference).Status)

		b.clock.Advance(30 * time.Second)
		rep := b.run(t)
		require.Equal(t, 1, rep.Checked)
		require.Equal(t, 1, rep.Fulfilled)
		got := b.attempt(t, a.Reference)
		require.Equal(t, paidup.AttemptFulfilled, got.Status)
		require.Zero(t, got.NextCheckAt)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'confirmation'`))
		require.Contains(t, b.timeline(t, a.Reference), "Payment of $249.00 confirmed by the processor (found by the reconciler)")

		b.clock.Advance(time.Hour)
		require.Equal(t, reconcile.Report{}, b.run(t))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))
	})
}

// A checkout that closed unpaid is settled as expired when it is checked.
func TestRunSettlesExpiredCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, time.Hour, sandbox.Options{})
		a := b.start(t, "ada@example.com")
		b.sb.Expire(t, a.CheckoutID)
		b.clock.Advance(time.Minute)
		rep := b.run(t)
		require.Equal(t, 1, rep.Checked)
		require.Equal(t, 1, rep.Expired)
		got := b.attempt(t, a.Reference)
		require.Equal(t, paidup.AttemptExpired, got.Status)
		require.Zero(t, got.NextCheckAt)
		require.Equal(t, 1, countPrefix(b.timeline(t, a.Reference), "The checkout closed unpaid"))
		b.clock.Advance(time.Hour)
		require.Zero(t, b.run(t).Checked)
	})
}

// A checkout still open is asked about again on the schedule: each check
// counts, and the next one is set from it.
func TestRunReschedulesOpenCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, time.Hour, sandbox.Options{})
		b.rec.Schedule = reconcile.DefaultSchedule
		a := b.start(t, "ada@example.com")
		require.Equal(t, t0.Add(time.Minute), a.NextCheckAt)

		steps := []struct {
			at      time.Duration // since the checkout started
			checked int
			checks  int
			next    time.Duration // since the checkout started
		}{
			{30 * time.Second, 0, 0, time.Minute},
			{time.Minute, 1, 1, 6 * time.Minute},
			{6*time.Minute - time.Second, 0, 1, 6 * time.Minute},
			{6 * time.Minute, 1, 2, 66 * time.Minute},
			{66 * time.Minute, 1, 3, 66*time.Minute + 24*time.Hour},
			{2 * time.Hour, 0, 3, 66*time.Minute + 24*time.Hour},
			{66*time.Minute + 24*time.Hour, 1, 4, 66*time.Minute + 48*time.Hour},
		}
		for _, s := range steps {
			b.clock.Set(t0.Add(s.at))
			rep := b.run(t)
			require.Equal(t, s.checked, rep.Checked, "at %s", s.at)
			require.Zero(t, rep.Fulfilled+rep.GaveUp+rep.Repaired)
			got := b.attempt(t, a.Reference)
			require.Equal(t, paidup.AttemptOpen, got.Status, "at %s", s.at)
			require.Equal(t, s.checks, got.Checks, "at %s", s.at)
			require.Equal(t, t0.Add(s.next), got.NextCheckAt, "at %s", s.at)
		}
		require.Zero(t, b.count(t, `SELECT count(*) FROM support_cases`))
	})
}

// When the processor never answers, paidup asks on the schedule and then
// gives the checkout to a person: one support case, alerts to on-call.
func TestRunGivesUpWhenProcessorUnreachable(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, time.Hour, sandbox.Options{})
		a := b.start(t, "ada@example.com")
		b.processorDown(t)

		for i, at := range []time.Duration{time.Minute, 6 * time.Minute, 66 * time.Minute} {
			b.clock.Set(t0.Add(at))
			rep, err := b.rec.Run(ctx)
			require.Error(t, err, "the sweeps cannot reach the processor")
			require.Equal(t, 1, rep.Checked)
			got := b.attempt(t, a.Reference)
			if i < len(schedule)-1 {
				require.Zero(t, rep.GaveUp)
				require.Equal(t, paidup.AttemptOpen, got.Status)
				require.Equal(t, i+1, got.Checks)
				continue
			}
			require.Equal(t, 1, rep.GaveUp)
			require.Equal(t, paidup.AttemptUnknown, got.Status)
			require.Zero(t, got.NextCheckAt)
		}
		check := func() {
			t.Helper()
			cases, err := b.store.OpenCases(ctx)
			require.NoError(t, err)
			require.Len(t, cases, 1)
			require.Equal(t, paidup.CaseUnconfirmed, cases[0].Kind)
			require.Equal(t, a.Reference, cases[0].Reference)
			require.Contains(t, cases[0].Summary, "after 3 checks")
			require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'alert' AND to_address = $1`, onCall[0]))
			require.Equal(t, 1, countPrefix(b.timeline(t, a.Reference), "Support case opened"))
		}
		check()

		b.clock.Advance(48 * time.Hour)
		rep, _ := b.rec.Run(ctx)
		require.Zero(t, rep.Checked, "given up: not checked again")
		check()
	})
}

// An attempt that never got a processor checkout, once older than any
// checkout can live, was abandoned: nothing was charged.
func TestRunAbandonsAttemptWithoutCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, time.Hour, sandbox.Options{})
		ref := paidup.NewReference()
		_, created, err := b.store.CreateCheckoutAttempt(ctx, paidup.CheckoutAttempt{Reference: ref, PlanID: proAnnual.ID,
			Email: "ada@example.com", Amount: proAnnual.Amount, Processor: "stripe", NextCheckAt: t0.Add(time.Minute)})
		require.NoError(t, err)
		require.True(t, created)

		b.clock.Set(t0.Add(time.Minute))
		require.Equal(t, 1, b.run(t).Checked)
		got := b.attempt(t, ref)
		require.Equal(t, paidup.AttemptCreated, got.Status, "a checkout may yet turn up")
		require.Equal(t, 1, got.Checks)

		b.clock.Set(t0.Add(checkout.Lifetime + time.Hour + time.Minute))
		require.Equal(t, 1, b.run(t).Checked)
		got = b.attempt(t, ref)
		require.Equal(t, paidup.AttemptAbandoned, got.Status)
		require.Zero(t, got.NextCheckAt)
		require.Contains(t, b.timeline(t, ref), "No payment page was ever opened for this checkout; nothing was charged")
		require.Zero(t, b.count(t, `SELECT count(*) FROM support_cases`))
		require.Zero(t, b.run(t).Checked)
	})
}

// The sweeps find payments paidup has no record of — through the
// processor's checkouts, or its payments when the checkout is older than
// the sweep looks — repair them once, and move their cursors on.
func TestSweepsRepairUnknownPayments(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		tests := []struct {
			name string
			// pay makes a paid checkout paidup has no attempt for, and
			// returns its reference.
			pay     func(t *testing.T, b *testBundle) string
			swept   string // the sweep that finds it
			checked string // the sweep whose cursor is the checkout's creation
		}{
			{"recent checkout", func(t *testing.T, b *testBundle) string {
				ref := paidup.NewReference()
				id := b.sb.CreateSession(t, url.Values{"client_reference_id": {ref}, "line_items[0][price]": {proAnnual.PriceID},
					"customer_email": {"ada@example.com"}, "customer_creation": {"always"},
					"payment_intent_data[metadata][" + stripe.MetadataKey + "]": {ref}})
				b.clock.Advance(time.Minute)
				b.sb.Pay(t, id, nil)
				return ref
			}, "checkouts", "checkouts"},
			{"old checkout paid now", func(t *testing.T, b *testBundle) string {
				ref := paidup.NewReference()
				id := b.sb.CreateSession(t, url.Values{"client_reference_id": {ref}, "line_items[0][price]": {proAnnual.PriceID},
					"customer_email": {"ada@example.com"}, "payment_intent_data[metadata][" + stripe.MetadataKey + "]": {ref}})
				b.clock.Advance(2 * time.Hour)
				b.sb.Pay(t, id, nil)
				return ref
			}, "payments", "payments"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, engine, time.Hour, sandbox.Options{})
				ref := tt.pay(t, b)
				paidAt := b.clock.Now()

				rep := b.run(t)
				require.Equal(t, 1, rep.Repaired, "%+v", rep)
				require.Zero(t, rep.Checked)
				a := b.attempt(t, ref)
				require.Equal(t, paidup.AttemptFulfilled, a.Status)
				require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))
				timeline := b.timeline(t, ref)
				require.Equal(t, 1, countPrefix(timeline, "Rebuilt a checkout paidup had no record of"), "%q", timeline)
				require.Contains(t, timeline, "Payment of $249.00 confirmed by the processor (found by the reconciler)")
				require.Equal(t, paidAt, b.cursor(t, "payments"), "the payments cursor is at the newest payment")
				if tt.swept == "checkouts" {
					require.Equal(t, paidAt.Add(-time.Minute), b.cursor(t, "checkouts"), "the checkouts cursor is at the newest checkout")
				}

				// Run again, later: nothing is repaired twice, and the cursors
				// do not move back.
				cursors := map[string]time.Time{}
				for _, name := range []string{"checkouts", "payments", "undelivered_events"} {
					cursors[name] = b.cursor(t, name)
				}
				for range 3 {
					b.clock.Advance(10 * time.Minute)
					rep = b.run(t)
					require.Zero(t, rep.Repaired+rep.Fulfilled+rep.EventsRecovered, "%+v", rep)
					for name, at := range cursors {
						require.False(t, b.cursor(t, name).Before(at), "the %s cursor moved back", name)
					}
				}
				require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))
				require.Equal(t, 1, b.count(t, `SELECT count(*) FROM payments`))
				require.Equal(t, 1, countPrefix(b.timeline(t, ref), "Payment of"))

				// A new payment moves the cursor on.
				later := b.start(t, "bob@example.com")
				b.clock.Advance(30 * time.Second)
				b.sb.Pay(t, later.CheckoutID, nil)
				rep = b.run(t)
				require.Equal(t, 1, rep.Repaired, "%+v", rep)
				require.Equal(t, b.clock.Now(), b.cursor(t, "payments"))
				require.Equal(t, b.clock.Now().Add(-30*time.Second), b.cursor(t, "checkouts"))
				require.Equal(t, paidup.AttemptFulfilled, b.attempt(t, later.Reference).Status)
			})
		}
	})
}

// Events the processor could not deliver are read back and ingested as if
// they had arrived, each with its processing job, once.
func TestSweepIngestsUndeliveredEvents(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, time.Hour, sandbox.Options{
			Endpoints: []sandbox.EndpointConfig{{URL: "http://127.0.0.1:1/webhooks/stripe", Secret: "whsec_test"}},
			Faults:    []sandbox.Fault{{Action: sandbox.FaultDrop}},
		})
		a := b.start(t, "ada@example.com")
		b.sb.Pay(t, a.CheckoutID, nil)
		var undelivered []string
		for _, typ := range []string{"customer.created", "payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"} {
			evs := b.sb.Events(t, typ)
			require.Len(t, evs, 1, typ)
			undelivered = append(undelivered, evs[0].ID)
		}

		rep := b.run(t)
		require.Equal(t, len(undelivered), rep.EventsRecovered)
		res, err := b.inserter.JobList(ctx, river.NewJobListParams().Kinds(events.ProcessArgs{}.Kind()).First(100))
		require.NoError(t, err)
		jobs := map[string]bool{}
		for _, j := range res.Jobs {
			jobs[string(j.EncodedArgs)] = true
		}
		require.Len(t, jobs, len(undelivered))
		for _, id := range undelivered {
			ev, err := b.store.WebhookEvent(ctx, "stripe", id)
			require.NoError(t, err, id)
			require.Equal(t, store.ViaSweep, ev.Via)
			require.Contains(t, string(ev.Payload), id)
			found := false
			for args := range jobs {
				found = found || strings.Contains(args, `"`+id+`"`)
			}
			require.True(t, found, "a processing job for %s", id)
		}
		require.Equal(t, b.clock.Now(), b.cursor(t, "undelivered_events"))

		b.clock.Advance(time.Minute)
		rep = b.run(t)
		require.Zero(t, rep.EventsRecovered, "read again, they are duplicates")
		require.Equal(t, len(undelivered), b.count(t, `SELECT count(*) FROM webhook_events`))
		res, err = b.inserter.JobList(ctx, river.NewJobListParams().Kinds(events.ProcessArgs{}.Kind()).First(100))
		require.NoError(t, err)
		require.Len(t, res.Jobs, len(undelivered))
	})
}

// A refund whose webhook never arrived is found by the refunds sweep, and
// the access it paid for ends.
func TestSweepRecordsLostRefunds(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, time.Hour, sandbox.Options{})
		a := b.start(t, "ada@example.com")
		b.sb.Pay(t, a.CheckoutID, nil)
		out, err := b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, out.State)

		co, err := b.sb.Processor().Checkout(ctx, a.CheckoutID)
		require.NoError(t, err)
		b.clock.Advance(time.Minute)
		b.sb.Refund(t, co.PaymentID, 24900)
		b.run(t)
		b.run(t)

		grants, err := b.store.Grants(ctx, out.CustomerID)
		require.NoError(t, err)
		require.Len(t, grants, 1)
		require.False(t, grants[0].Revoked.IsZero(), "the refunded payment's grant is revoked")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM timeline WHERE summary LIKE 'Access ended: the payment was refunded%'`))
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
	})
}

// With Settle, the sweeps leave new records to their webhooks: a payment
// paid just now is not repaired by this pass, and the next pass, once it
// is old enough, repairs it, however far the cursor had got.
func TestSweepsLeaveNewRecordsToWebhooks(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, time.Hour, sandbox.Options{})
		b.rec.Settle = time.Minute
		b.rec.Overlap = 0
		ref := paidup.NewReference()
		id := b.sb.CreateSession(t, url.Values{"client_reference_id": {ref}, "line_items[0][price]": {proAnnual.PriceID},
			"customer_email": {"ada@example.com"}, "payment_intent_data[metadata][" + stripe.MetadataKey + "]": {ref}})
		b.sb.Pay(t, id, nil)

		rep := b.run(t)
		require.Zero(t, rep.Repaired+rep.EventsRecovered, "%+v", rep)
		require.Zero(t, b.count(t, `SELECT count(*) FROM grants`))

		b.clock.Advance(30 * time.Second)
		rep = b.run(t)
		require.Zero(t, rep.Repaired+rep.EventsRecovered, "still new: %+v", rep)

		b.clock.Advance(45 * time.Second)
		rep = b.run(t)
		require.Equal(t, 1, rep.Repaired, "%+v", rep)
		require.Equal(t, paidup.AttemptFulfilled, b.attempt(t, ref).Status)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))
	})
}

// The reconciler confirms recently refunded payments with the processor,
// and what the processor says wins: a payment paidup wrongly believes
// refunded (its row set so by hand, its grant revoked as a refund would)
// is succeeded again with its access back; a refund whose webhook was lost
// is recorded by the sweep, and when the processor later fails it and that
// event is lost too — the sweep has moved on past it — the next
// confirmation, an hour after the last, gives the access back and opens a
// case. Nothing is read again before its hour.
func TestReconcilerConfirmsRefunds(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, time.Hour, sandbox.Options{})
		buy := func(email, card string) (checkout.Outcome, paidup.Checkout) {
			a := b.start(t, email)
			b.sb.Pay(t, a.CheckoutID, url.Values{"payment_method": {card}})
			out, err := b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
			require.NoError(t, err)
			require.Equal(t, paidup.AttemptFulfilled, out.State)
			co, err := b.sb.Processor().Checkout(ctx, a.CheckoutID)
			require.NoError(t, err)
			return out, co
		}
		grant := func(customerID string) paidup.Grant {
			grants, err := b.store.Grants(ctx, customerID)
			require.NoError(t, err)
			require.Len(t, grants, 1)
			return grants[0]
		}
		payment := func(customerID string) paidup.Payment {
			payments, err := b.store.Payments(ctx, customerID)
			require.NoError(t, err)
			require.Len(t, payments, 1)
			return payments[0]
		}

		wrong, wrongCo := buy("ada@example.com", "pm_card_visa")
		_, err := b.db.Write.ExecContext(ctx, `UPDATE payments SET status = 'refunded', amount_refunded = amount WHERE payment_id = $1`, wrongCo.PaymentID)
		require.NoError(t, err)
		_, err = b.db.Write.ExecContext(ctx, `UPDATE grants SET revoked_at = $1, revoke_reason = $2 WHERE customer_id = $3`,
			b.clock.Now(), checkout.RefundRevokeReason, wrong.CustomerID)
		require.NoError(t, err)

		failing, failingCo := buy("bob@example.com", "pm_card_refundFail")
		later, laterCo := buy("carol@example.com", "pm_card_visa")
		b.clock.Advance(time.Minute)
		b.sb.Refund(t, failingCo.PaymentID, 0) // its webhooks are lost
		rep := b.run(t)
		require.Equal(t, 2, rep.Repaired, "%+v", rep)

		p := payment(wrong.CustomerID)
		require.Equal(t, paidup.PaymentSucceeded, p.Status, "the processor has no refund of it")
		require.Zero(t, p.AmountRefunded)
		require.Zero(t, grant(wrong.CustomerID).Revoked, "its access is back")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM timeline WHERE customer_id = $1 AND summary LIKE 'Access restored%'`, wrong.CustomerID))
		require.NotZero(t, grant(failing.CustomerID).Revoked, "the refund the sweep found ends the access")
		require.Equal(t, paidup.PaymentRefunded, payment(failing.CustomerID).Status)

		// A later refund moves the refunds sweep on.
		b.clock.Advance(10 * time.Minute)
		b.sb.Refund(t, laterCo.PaymentID, 100)
		rep = b.run(t)
		require.Equal(t, 1, rep.Repaired, "%+v", rep)
		require.Equal(t, int64(100), payment(later.CustomerID).AmountRefunded)

		// The processor fails the first refund; its events are lost.
		at := b.sb.Sandbox.Now().Add(time.Minute).Unix()
		b.sb.Call(t, "POST", "/v1/test_helpers/test_clocks/clock_sandbox/advance", url.Values{"frozen_time": {strconv.FormatInt(at, 10)}})
		b.clock.Advance(30 * time.Minute)
		rep = b.run(t)
		require.Zero(t, rep.Repaired, "not confirmed again within the hour: %+v", rep)
		require.NotZero(t, grant(failing.CustomerID).Revoked)

		b.clock.Advance(21 * time.Minute)
		rep = b.run(t)
		require.Equal(t, 1, rep.Repaired, "an hour on, it is confirmed again: %+v", rep)
		p = payment(failing.CustomerID)
		require.Equal(t, paidup.PaymentSucceeded, p.Status)
		require.Zero(t, p.AmountRefunded)
		require.Zero(t, grant(failing.CustomerID).Revoked, "the failed refund gives the access back")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases WHERE kind = $1 AND payment_id = $2`, paidup.CaseRefundFailed, failingCo.PaymentID))

		b.clock.Advance(2 * time.Hour)
		rep = b.run(t)
		require.Zero(t, rep.Repaired, "%+v", rep)
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
	})
}
