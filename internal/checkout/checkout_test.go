package checkout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

func usd(cents int64) paidup.Money { return paidup.Money{Amount: cents, Currency: "usd"} }

var (
	proAnnual = paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Tier: "pro", PriceID: "price_pro_annual",
		Amount: usd(24900), Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}}
	memberForLife = paidup.Plan{ID: "member-lifetime", Name: "Member for life", Tier: "member", PriceID: "price_member_lifetime",
		Amount: usd(4900), Interval: paidup.Once}
	// mispriced costs $249.00 by the policy, but its processor price
	// charges $1.00.
	mispriced = paidup.Plan{ID: "mispriced", Name: "Mispriced", Tier: "pro", PriceID: "price_mispriced",
		Amount: usd(24900), Interval: paidup.Once}
	policy = paidup.Policy{
		Tiers: []paidup.Tier{{ID: "member", Name: "Member", Rank: 10}, {ID: "pro", Name: "Pro", Rank: 20}},
		Plans: []paidup.Plan{proAnnual, memberForLife, mispriced},
	}
	// strayPrice is sold at the processor by no plan.
	strayPrice = sandbox.SeedPrice{ID: "price_stray", ProductName: "Something else", Amount: 999, Currency: "usd"}
	onCall     = []string{"backup@example.com", "oncall@example.com"}
)

type testBundle struct {
	queue *queue.Client
	svc   *checkout.Service
	store *store.Store
	db    *sqldb.DB
	sb    *sandboxtest.Server
	clock *sandboxtest.Clock
}

// setup runs the purchase path on a fresh database of engine, with a
// sandbox processor behind the real Stripe adapter, the real outbox, and
// a business clock shared by both that the test moves.
func setup(t *testing.T, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)

	b := &testBundle{db: db, clock: sandboxtest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))}
	b.sb = sandboxtest.Start(t, sandbox.Options{Now: b.clock.Now, Prices: []sandbox.SeedPrice{
		{ID: proAnnual.PriceID, ProductName: proAnnual.Name, Amount: 24900, Currency: "usd"},
		{ID: memberForLife.PriceID, ProductName: memberForLife.Name, Amount: 4900, Currency: "usd"},
		{ID: mispriced.PriceID, ProductName: mispriced.Name, Amount: 100, Currency: "usd"},
		strayPrice,
	}})
	b.store, err = store.New(db, b.clock.Now)
	require.NoError(t, err)
	b.queue, err = queue.NewInserter(db)
	require.NoError(t, err)
	b.svc = &checkout.Service{
		Store: b.store, Processor: b.sb.Processor(), Policy: &policy, Notify: &notify.Outbox{OnCall: onCall},
		Logger: slog.New(slog.DiscardHandler), PublicURL: "http://paidup.test", FirstCheck: time.Minute,
	}
	return b
}

// start sends a customer to pay for plan, as the buy form does.
func (b *testBundle) start(t *testing.T, plan paidup.Plan, email string) paidup.CheckoutAttempt {
	t.Helper()
	a, err := b.svc.Start(context.Background(), plan, paidup.NewReference(), email)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptOpen, a.Status)
	require.NotEmpty(t, a.CheckoutID)
	return a
}

// bought starts a checkout for plan and pays it at the processor.
func (b *testBundle) bought(t *testing.T, plan paidup.Plan, email string) paidup.CheckoutAttempt {
	t.Helper()
	a := b.start(t, plan, email)
	b.sb.Pay(t, a.CheckoutID, nil)
	return a
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Read.QueryRow(query, args...).Scan(&n))
	return n
}

func (b *testBundle) strings(t *testing.T, query string, args ...any) []string {
	t.Helper()
	rows, err := b.db.Read.Query(query, args...)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func (b *testBundle) jobs(t *testing.T, kind string) int {
	t.Helper()
	return b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1`, kind)
}

// counts is how many rows each table paidup writes holds.
func (b *testBundle) counts(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"customers", "processor_customers", "payments", "grants", "timeline", "emails", "support_cases", "checkout_attempts", "river_job"} {
		out[table] = b.count(t, "SELECT count(*) FROM "+table)
	}
	return out
}

// summaries lists the timeline of a customer (or, with customerID empty,
// of a reference).
func (b *testBundle) summaries(t *testing.T, customerID, ref string) []string {
	t.Helper()
	entries, err := b.store.Timeline(context.Background(), customerID, ref)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Summary)
	}
	return out
}

// countPrefix counts the strings that start with prefix.
func countPrefix(ss []string, prefix string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (b *testBundle) checkout(t *testing.T, id string) paidup.Checkout {
	t.Helper()
	co, err := b.svc.Processor.Checkout(context.Background(), id)
	require.NoError(t, err)
	return co
}

func TestFulfilPaidCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		a := b.start(t, proAnnual, "ada@example.com")
		paidAt := b.clock.Advance(10 * time.Minute)
		b.sb.Pay(t, a.CheckoutID, nil)
		now := b.clock.Advance(time.Minute)

		out, err := b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByReturnPage)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, out.State)
		require.NotEmpty(t, out.CustomerID)
		co := b.checkout(t, a.CheckoutID)

		g := out.Grant
		require.NotEmpty(t, g.ID)
		require.Equal(t, out.CustomerID, g.CustomerID)
		require.Equal(t, "pro", g.Tier)
		require.Equal(t, proAnnual.ID, g.PlanID)
		require.Equal(t, paidup.SourcePurchase, g.Source)
		require.Equal(t, "stripe:"+co.PaymentID, g.SourceRef)
		require.Equal(t, paidAt, g.Start, "access starts when the payment was made")
		require.Equal(t, time.Date(2027, 11, 23, 12, 10, 0, 0, time.UTC), g.End, "a one-year plan ends a year after the payment")
		grants, err := b.store.Grants(ctx, out.CustomerID)
		require.NoError(t, err)
		require.Len(t, grants, 1)
		require.Equal(t, g.ID, grants[0].ID)
		require.Equal(t, g.End, grants[0].End)
		require.Equal(t, paidup.Access{Active: true, Tier: "pro", Until: g.End}, policy.AccessAt(grants, nil, now))

		c, err := b.store.Customer(ctx, out.CustomerID)
		require.NoError(t, err)
		require.Equal(t, "ada@example.com", c.Email)
		require.Equal(t, map[string][]string{"stripe": {co.CustomerID}}, c.ProcessorIDs)

		payments, err := b.store.Payments(ctx, out.CustomerID)
		require.NoError(t, err)
		require.Len(t, payments, 1)
		p := payments[0]
		require.Equal(t, co.PaymentID, p.ID)
		require.Equal(t, usd(24900), p.Amount)
		require.Equal(t, paidup.PaymentSucceeded, p.Status)
		require.Equal(t, a.Reference, p.CheckoutReference)
		require.Equal(t, a.CheckoutID, p.CheckoutID)
		require.Equal(t, proAnnual.ID, p.PlanID)
		require.Equal(t, paidAt, p.PaidAt)

		got, err := b.store.CheckoutAttempt(ctx, a.Reference)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, got.Status)
		require.Equal(t, out.CustomerID, got.CustomerID)
		require.Equal(t, co.PaymentID, got.PaymentID)
		require.Equal(t, now, got.ResolvedAt)
		require.Zero(t, got.NextCheckAt, "the reconciler stops checking it")

		require.Equal(t, []string{
			"Checkout started: pro-annual, $249.00, for ada@example.com",
			"Sent to the processor's payment page",
			"New customer ada@example.com",
			"Payment of $249.00 confirmed by the processor (the customer returned from paying)",
			"Access granted: Pro, until 23 November 2027",
			"Confirmation email queued to ada@example.com",
		}, b.summaries(t, out.CustomerID, ""))
		entries, err := b.store.Timeline(ctx, "", a.Reference)
		require.NoError(t, err)
		require.Len(t, entries, 6)
		for _, e := range entries[2:] {
			require.Equal(t, out.CustomerID, e.CustomerID)
			require.Equal(t, now, e.At, "what fulfilment wrote, it wrote at once")
			require.Equal(t, paidup.BySystem == e.Source || paidup.ByReturnPage == e.Source, true, e.Source)
		}

		emails, err := b.store.Emails(ctx, out.CustomerID)
		require.NoError(t, err)
		require.Len(t, emails, 1)
		e := emails[0]
		require.Equal(t, notify.KindConfirmation, e.Kind)
		require.Equal(t, "ada@example.com", e.To)
		require.Equal(t, store.EmailQueued, e.Status)
		require.Equal(t, "confirmation:"+g.ID, e.DedupeKey)
		require.Equal(t, a.Reference, e.Data["reference"])
		require.Equal(t, g.ID, e.Data["grant"])
		require.Equal(t, 1, b.jobs(t, "send_email"))
		jobs, err := b.queue.JobList(ctx, river.NewJobListParams().Kinds("send_email"))
		require.NoError(t, err)
		require.Len(t, jobs.Jobs, 1)
		var args notify.SendArgs
		require.NoError(t, json.Unmarshal(jobs.Jobs[0].EncodedArgs, &args))
		require.Equal(t, e.ID, args.EmailID, "the job sends that email")

		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
		require.Empty(t, report.AwaitingPerson)
		require.Equal(t, 1, report.Payments)
		require.Equal(t, 1, report.Grants)
	})
}

// A permanent plan grants for good.
func TestFulfilPermanentPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, sqldb.SQLite)
	a := b.bought(t, memberForLife, "ada@example.com")
	out, err := b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
	require.NoError(t, err)
	require.Equal(t, "member", out.Grant.Tier)
	require.Zero(t, out.Grant.End)
	require.Contains(t, b.summaries(t, out.CustomerID, ""), "Access granted: Member, for good")
	require.Contains(t, b.summaries(t, out.CustomerID, ""), "Payment of $49.00 confirmed by the processor (webhook)")
}

// The return page, the webhook and the reconciler may all fulfil the same
// payment at once; it still grants once and confirms once.
func TestFulfilConcurrently(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		tests := []struct {
			name string
			// prepare makes a paid checkout and returns its id.
			prepare func(t *testing.T, b *testBundle) string
		}{
			{"recorded attempt", func(t *testing.T, b *testBundle) string {
				return b.bought(t, proAnnual, "ada@example.com").CheckoutID
			}},
			{"attempt row lost", func(t *testing.T, b *testBundle) string {
				a := b.bought(t, proAnnual, "ada@example.com")
				_, err := b.db.Write.Exec(`DELETE FROM checkout_attempts WHERE reference = $1`, a.Reference)
				require.NoError(t, err)
				return a.CheckoutID
			}},
			{"no reference at all", func(t *testing.T, b *testBundle) string {
				id := b.sb.CreateSession(t, url.Values{"line_items[0][price]": {proAnnual.PriceID}, "line_items[0][quantity]": {"1"},
					"customer_email": {"ada@example.com"}, "customer_creation": {"always"}})
				b.sb.Pay(t, id, nil)
				return id
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := setup(t, engine)
				id := tt.prepare(t, b)
				co := b.checkout(t, id)
				require.True(t, co.Paid)

				sources := []string{paidup.ByWebhook, paidup.ByReturnPage, paidup.ByReconciler}
				const n = 20
				outs := make([]checkout.Outcome, n)
				errs := make([]error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						if i%2 == 0 {
							outs[i], errs[i] = b.svc.Fulfil(ctx, id, sources[i%3])
						} else {
							outs[i], errs[i] = b.svc.FulfilCheckout(ctx, co, sources[i%3])
						}
					})
				}
				close(start)
				wg.Wait()
				for i := range n {
					require.NoError(t, errs[i], "call %d", i)
					require.Equal(t, paidup.AttemptFulfilled, outs[i].State, "call %d", i)
					require.Equal(t, outs[0].Grant.ID, outs[i].Grant.ID, "every call reports the one grant")
					require.Equal(t, outs[0].CustomerID, outs[i].CustomerID)
				}

				counts := b.counts(t)
				require.Equal(t, 1, counts["grants"])
				require.Equal(t, 1, counts["payments"])
				require.Equal(t, 1, counts["customers"])
				require.Equal(t, 1, counts["emails"])
				require.Equal(t, 1, counts["checkout_attempts"])
				require.Equal(t, 0, counts["support_cases"])
				require.Equal(t, 1, b.jobs(t, "send_email"))
				timeline := b.summaries(t, outs[0].CustomerID, "")
				for _, prefix := range []string{"New customer", "Payment of $249.00 confirmed", "Access granted", "Confirmation email queued"} {
					require.Equal(t, 1, countPrefix(timeline, prefix), "%q once in %q", prefix, timeline)
				}
				a, err := b.store.CheckoutAttemptByCheckout(ctx, id)
				require.NoError(t, err)
				require.Equal(t, paidup.AttemptFulfilled, a.Status)
				require.Equal(t, co.PaymentID, a.PaymentID)

				// Later calls, one at a time, change nothing.
				for _, source := range sources {
					b.clock.Advance(time.Minute)
					out, err := b.svc.Fulfil(ctx, id, source)
					require.NoError(t, err)
					require.Equal(t, outs[0].Grant.ID, out.Grant.ID)
				}
				require.Equal(t, counts, b.counts(t))
				report, err := b.store.Check(ctx)
				require.NoError(t, err)
				require.Empty(t, report.Violations)
			})
		}
	})
}

// Until the processor confirms a payment, nothing is written: no customer,
// no payment, no grant, no email.
func TestFulfilUnpaidIsPending(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		a := b.start(t, proAnnual, "ada@example.com")
		before := b.counts(t)
		for _, source := range []string{paidup.ByReturnPage, paidup.ByWebhook, paidup.ByReconciler} {
			out, err := b.svc.Fulfil(ctx, a.CheckoutID, source)
			require.NoError(t, err)
			require.Equal(t, checkout.Pending, out.State)
			require.Empty(t, out.CustomerID)
			require.Empty(t, out.Grant.ID)
		}
		require.Equal(t, before, b.counts(t))
		got, err := b.store.CheckoutAttempt(ctx, a.Reference)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptOpen, got.Status)
		require.Equal(t, a.NextCheckAt, got.NextCheckAt, "still due for its check")

		_, err = b.svc.Fulfil(ctx, "cs_test_nosuchsession", paidup.ByReturnPage)
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
		require.Equal(t, before, b.counts(t))
	})
}

// A checkout that closed unpaid settles its attempt as expired, once.
func TestFulfilExpired(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		a := b.start(t, proAnnual, "ada@example.com")
		b.sb.Expire(t, a.CheckoutID)
		for range 2 {
			out, err := b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
			require.NoError(t, err)
			require.Equal(t, paidup.AttemptExpired, out.State)
		}
		got, err := b.store.CheckoutAttempt(ctx, a.Reference)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptExpired, got.Status)
		require.Zero(t, got.NextCheckAt)
		timeline := b.summaries(t, "", a.Reference)
		require.Equal(t, 1, countPrefix(timeline, "The checkout closed unpaid; nothing was charged"), "%q", timeline)
		require.Equal(t, "The checkout closed unpaid; nothing was charged", timeline[len(timeline)-1])
		counts := b.counts(t)
		require.Zero(t, counts["grants"]+counts["payments"]+counts["customers"]+counts["emails"])
	})
}

// A paid checkout paidup has no attempt for — the row was lost, or the
// checkout was made outside paidup — is rebuilt from the processor's data
// and granted once.
func TestFulfilWithoutAttempt(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		tests := []struct {
			name    string
			prepare func(t *testing.T, b *testBundle) (checkoutID, wantRef string)
		}{
			{"attempt row deleted", func(t *testing.T, b *testBundle) (string, string) {
				a := b.bought(t, proAnnual, "ada@example.com")
				_, err := b.db.Write.Exec(`DELETE FROM checkout_attempts WHERE reference = $1`, a.Reference)
				require.NoError(t, err)
				return a.CheckoutID, a.Reference
			}},
			{"reference paidup never recorded", func(t *testing.T, b *testBundle) (string, string) {
				ref := paidup.NewReference()
				id := b.sb.CreateSession(t, url.Values{"client_reference_id": {ref},
					"line_items[0][price]": {proAnnual.PriceID}, "customer_email": {"ada@example.com"}, "customer_creation": {"always"}})
				b.sb.Pay(t, id, nil)
				return id, ref
			}},
			{"plan price without a reference", func(t *testing.T, b *testBundle) (string, string) {
				id := b.sb.CreateSession(t, url.Values{"line_items[0][price]": {proAnnual.PriceID}})
				b.sb.Pay(t, id, url.Values{"email": {"Ada@Example.com"}})
				return id, "PROCESSOR-" + id
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := setup(t, engine)
				id, ref := tt.prepare(t, b)
				require.True(t, b.svc.Ours(b.checkout(t, id)))

				out, err := b.svc.Fulfil(ctx, id, paidup.ByReconciler)
				require.NoError(t, err)
				require.Equal(t, paidup.AttemptFulfilled, out.State)
				require.Equal(t, "pro", out.Grant.Tier)
				again, err := b.svc.Fulfil(ctx, id, paidup.ByWebhook)
				require.NoError(t, err)
				require.Equal(t, out.Grant.ID, again.Grant.ID)

				a, err := b.store.CheckoutAttempt(ctx, ref)
				require.NoError(t, err)
				require.Equal(t, paidup.AttemptFulfilled, a.Status)
				require.Equal(t, id, a.CheckoutID)
				require.Equal(t, proAnnual.ID, a.PlanID)
				require.Equal(t, usd(24900), a.Amount)
				require.Equal(t, out.CustomerID, a.CustomerID)

				counts := b.counts(t)
				require.Equal(t, 1, counts["grants"])
				require.Equal(t, 1, counts["payments"])
				require.Equal(t, 1, counts["emails"])
				require.Equal(t, 1, counts["checkout_attempts"])
				c, err := b.store.Customer(ctx, out.CustomerID)
				require.NoError(t, err)
				require.Equal(t, "ada@example.com", c.Email, "matched by normalised email")
				timeline := b.summaries(t, "", ref)
				require.Equal(t, 1, countPrefix(timeline, "Rebuilt a checkout paidup had no record of"), "%q", timeline)
				require.Equal(t, 1, countPrefix(timeline, "Access granted"))
				report, err := b.store.Check(ctx)
				require.NoError(t, err)
				require.Empty(t, report.Violations)
			})
		}
	})
}

func TestOurs(t *testing.T) {
	t.Parallel()
	svc := &checkout.Service{Policy: &policy}
	tests := []struct {
		name string
		co   paidup.Checkout
		want bool
	}{
		{"reference and plan price", paidup.Checkout{Reference: "PU-AAAA-0001", PriceIDs: []string{proAnnual.PriceID}}, true},
		{"reference only", paidup.Checkout{Reference: "PU-AAAA-0001", PriceIDs: []string{strayPrice.ID}}, true},
		{"someone else's client reference", paidup.Checkout{Reference: "user_42", PriceIDs: []string{strayPrice.ID}}, false},
		{"someone else's client reference and a plan price", paidup.Checkout{Reference: "user_42", PriceIDs: []string{proAnnual.PriceID}}, true},
		{"a reference not as paidup writes it", paidup.Checkout{Reference: "pu-aaaa-0001", PriceIDs: []string{strayPrice.ID}}, false},
		{"plan price only", paidup.Checkout{PriceIDs: []string{memberForLife.PriceID}}, true},
		{"neither", paidup.Checkout{PriceIDs: []string{strayPrice.ID}}, false},
		{"no line items", paidup.Checkout{}, false},
		{"a plan price among others", paidup.Checkout{PriceIDs: []string{proAnnual.PriceID, strayPrice.ID}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, svc.Ours(tt.co))
		})
	}

	t.Run("a stranger's checkout at the processor", func(t *testing.T) {
		t.Parallel()
		b := setup(t, sqldb.SQLite)
		id := b.sb.CreateSession(t, url.Values{"line_items[0][price]": {strayPrice.ID}, "customer_email": {"ada@example.com"}})
		b.sb.Pay(t, id, nil)
		require.False(t, b.svc.Ours(b.checkout(t, id)))
	})
}

// What paidup cannot settle by itself — a price no plan sells, a wrong
// amount, a blocked customer — is not granted: it becomes one support case
// with alerts to on-call, however often it is fulfilled.
func TestFulfilNeedsAttention(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		tests := []struct {
			name     string
			prepare  func(t *testing.T, b *testBundle) (checkoutID string)
			kind     string
			summary  string
			customer string
		}{
			{
				name: "unknown plan",
				prepare: func(t *testing.T, b *testBundle) string {
					id := b.sb.CreateSession(t, url.Values{"client_reference_id": {paidup.NewReference()},
						"line_items[0][price]": {strayPrice.ID}, "customer_email": {"ada@example.com"}})
					b.sb.Pay(t, id, nil)
					return id
				},
				kind: paidup.CaseUnknownPlan, summary: "Paid $9.99 for price [price_stray], which no plan sells", customer: "ada@example.com",
			},
			{
				name: "amount mismatch",
				prepare: func(t *testing.T, b *testBundle) string {
					return b.bought(t, mispriced, "ada@example.com").CheckoutID
				},
				kind: paidup.CaseAmountMismatch, summary: "Paid $1.00 for Mispriced, which costs $249.00", customer: "ada@example.com",
			},
			{
				name: "blocked customer",
				prepare: func(t *testing.T, b *testBundle) string {
					ctx := context.Background()
					var customerID string
					require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
						var err error
						customerID, _, err = tx.MatchCustomer(ctx, "stripe", "", "eve@example.com")
						return err
					}))
					_, err := b.db.Write.Exec(`INSERT INTO blocks (id, customer_id, source, reason, created_at) VALUES ($1, $2, $3, $4, $5)`,
						"bl_1", customerID, paidup.BlockDispute, "chargeback on an earlier payment", b.clock.Now().Add(-time.Hour))
					require.NoError(t, err)
					return b.bought(t, proAnnual, "eve@example.com").CheckoutID
				},
				kind: paidup.CaseBlockedPayer, summary: "Paid $249.00 for Pro, one year while blocked (chargeback on an earlier payment)", customer: "eve@example.com",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := setup(t, engine)
				id := tt.prepare(t, b)
				co := b.checkout(t, id)

				check := func(t *testing.T) {
					t.Helper()
					a, err := b.store.CheckoutAttemptByCheckout(ctx, id)
					require.NoError(t, err)
					require.Equal(t, paidup.AttemptNeedsAttention, a.Status)
					require.Equal(t, co.PaymentID, a.PaymentID)
					require.Zero(t, a.NextCheckAt)
					cases, err := b.store.OpenCases(ctx)
					require.NoError(t, err)
					require.Len(t, cases, 1)
					require.Equal(t, tt.kind, cases[0].Kind)
					require.Equal(t, tt.summary, cases[0].Summary)
					require.Equal(t, co.PaymentID, cases[0].PaymentID)
					require.Equal(t, a.Reference, cases[0].Reference)
					require.Equal(t, a.CustomerID, cases[0].CustomerID)
					c, err := b.store.Customer(ctx, a.CustomerID)
					require.NoError(t, err)
					require.Equal(t, tt.customer, c.Email)

					require.Zero(t, b.count(t, `SELECT count(*) FROM grants`), "no grant")
					require.Equal(t, 1, b.count(t, `SELECT count(*) FROM payments`), "the payment is on record")
					require.Equal(t, onCall, b.strings(t, `SELECT to_address FROM emails WHERE kind = 'alert' ORDER BY to_address`))
					require.Zero(t, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'confirmation'`), "no confirmation")
					require.Equal(t, []string{a.Email}, b.strings(t, `SELECT to_address FROM emails WHERE kind = 'case_opened'`),
						"the customer is told a person is looking at it, once")
					require.Equal(t, 3, b.jobs(t, "send_email"))
					timeline := b.summaries(t, "", a.Reference)
					require.Equal(t, 1, countPrefix(timeline, "Support case opened: "+tt.summary), "%q", timeline)
					require.Equal(t, 1, countPrefix(timeline, "Payment of"), "%q", timeline)
					require.Zero(t, countPrefix(timeline, "Access granted"))

					report, err := b.store.Check(ctx)
					require.NoError(t, err)
					require.Empty(t, report.Violations, "an open case is not a violation")
					require.Len(t, report.AwaitingPerson, 1)
					require.Contains(t, report.AwaitingPerson[0].Detail, co.PaymentID)
				}

				out, err := b.svc.Fulfil(ctx, id, paidup.ByWebhook)
				require.NoError(t, err)
				require.Equal(t, paidup.AttemptNeedsAttention, out.State)
				require.Empty(t, out.Grant.ID)
				check(t)

				// Fulfilled again, from everywhere at once: still one case.
				var wg sync.WaitGroup
				outs := make([]checkout.Outcome, 6)
				errs := make([]error, 6)
				for i := range outs {
					wg.Go(func() {
						outs[i], errs[i] = b.svc.Fulfil(ctx, id, []string{paidup.ByWebhook, paidup.ByReturnPage, paidup.ByReconciler}[i%3])
					})
				}
				wg.Wait()
				for i := range outs {
					require.NoError(t, errs[i])
					require.Equal(t, paidup.AttemptNeedsAttention, outs[i].State)
				}
				b.clock.Advance(time.Hour)
				_, err = b.svc.Fulfil(ctx, id, paidup.ByReconciler)
				require.NoError(t, err)
				check(t)
			})
		}
	})
}

// Customers are matched by the processor's customer id first, then by
// normalised email; the same person buying twice is one customer.
func TestCustomerMatching(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		fulfil := func(id string) checkout.Outcome {
			t.Helper()
			out, err := b.svc.Fulfil(ctx, id, paidup.ByReturnPage)
			require.NoError(t, err)
			require.Equal(t, paidup.AttemptFulfilled, out.State)
			return out
		}

		firstAttempt := b.bought(t, proAnnual, "Ada@Example.COM")
		first := fulfil(firstAttempt.CheckoutID)
		second := fulfil(b.bought(t, memberForLife, "ada@example.com").CheckoutID)
		require.Equal(t, first.CustomerID, second.CustomerID, "same email, one customer")
		ada, err := b.store.Customer(ctx, first.CustomerID)
		require.NoError(t, err)
		require.Equal(t, "ada@example.com", ada.Email)
		require.Len(t, ada.ProcessorIDs["stripe"], 2, "both processor customers are linked")

		// Paying as an existing processor customer under another email is
		// still Ada: the processor's customer id comes first.
		cus := b.checkout(t, firstAttempt.CheckoutID).CustomerID
		require.NotEmpty(t, cus)
		id := b.sb.CreateSession(t, url.Values{"client_reference_id": {paidup.NewReference()}, "customer": {cus},
			"line_items[0][price]": {memberForLife.PriceID}})
		b.sb.Pay(t, id, url.Values{"email": {"ada.work@example.org"}})
		require.Equal(t, "ada.work@example.org", b.checkout(t, id).Email)
		// She holds Member for life already, so this is a duplicate of
		// hers: refunded, not granted.
		third, err := b.svc.Fulfil(ctx, id, paidup.ByReturnPage)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptDuplicate, third.State)
		require.Equal(t, ada.ID, third.CustomerID)

		other := fulfil(b.bought(t, proAnnual, "bob@example.com").CheckoutID)
		require.NotEqual(t, ada.ID, other.CustomerID)
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM customers`))
		grants, err := b.store.Grants(ctx, ada.ID)
		require.NoError(t, err)
		require.Len(t, grants, 2)
		require.Equal(t, "pro", policy.AccessAt(grants, nil, b.clock.Now()).Tier)
	})
}

// A full refund ends the access the payment granted, once; a partial one
// does not.
func TestRefunded(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		tests := []struct {
			name      string
			refunds   []int64 // amounts refunded at the processor, in turn
			revoked   bool
			refundLog []string
		}{
			{"full", []int64{24900}, true, []string{"Refund recorded: $249.00 of $249.00"}},
			{"partial", []int64{5000}, false, []string{"Refund recorded: $50.00 of $249.00"}},
			{"partial, then the rest", []int64{5000, 19900}, true, []string{"Refund recorded: $50.00 of $249.00", "Refund recorded: $249.00 of $249.00"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := setup(t, engine)
				a := b.bought(t, proAnnual, "ada@example.com")
				out, err := b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
				require.NoError(t, err)
				co := b.checkout(t, a.CheckoutID)

				var refunded int64
				for i, amount := range tt.refunds {
					b.clock.Advance(time.Hour)
					b.sb.Refund(t, co.PaymentID, amount)
					refunded += amount
					// Delivered twice, as webhooks may be.
					for range 2 {
						_, err := b.svc.SyncRefunds(ctx, co.PaymentID, paidup.ByWebhook, fmt.Sprintf("evt_refund_%d", i))
						require.NoError(t, err)
					}
				}
				now := b.clock.Now()

				grants, err := b.store.Grants(ctx, out.CustomerID)
				require.NoError(t, err)
				require.Len(t, grants, 1)
				g := grants[0]
				payments, err := b.store.Payments(ctx, out.CustomerID)
				require.NoError(t, err)
				require.Equal(t, refunded, payments[0].AmountRefunded)
				timeline := b.summaries(t, out.CustomerID, "")
				var refundLog []string
				for _, s := range timeline {
					if strings.HasPrefix(s, "Refund recorded") {
						refundLog = append(refundLog, s)
					}
				}
				require.Equal(t, tt.refundLog, refundLog)
				access := policy.AccessAt(grants, nil, now)
				if tt.revoked {
					require.Equal(t, now, g.Revoked)
					require.Equal(t, "payment refunded", g.RevokeReason)
					require.Equal(t, paidup.PaymentRefunded, payments[0].Status)
					require.Equal(t, 1, countPrefix(timeline, "Access ended: the payment was refunded in full"))
					require.False(t, access.Active)
				} else {
					require.Zero(t, g.Revoked)
					require.Equal(t, paidup.PaymentSucceeded, payments[0].Status)
					require.Zero(t, countPrefix(timeline, "Access ended"))
					require.Equal(t, paidup.Access{Active: true, Tier: "pro", Until: g.End}, access)
				}
				report, err := b.store.Check(ctx)
				require.NoError(t, err)
				require.Empty(t, report.Violations)
				require.Empty(t, report.AwaitingPerson)
			})
		}

		t.Run("a payment paidup never granted for", func(t *testing.T) {
			t.Parallel()
			b := setup(t, engine)
			before := b.counts(t)
			_, err := b.svc.ApplyRefunds(context.Background(), paidup.PaymentRefunds{PaymentID: "pi_unknown",
				Refunds: []paidup.Refund{{ID: "re_1", Amount: paidup.Money{Amount: 100, Currency: "usd"}, Status: paidup.RefundSucceeded}}}, paidup.ByWebhook, "evt_1")
			require.NoError(t, err)
			require.Equal(t, before, b.counts(t))
		})
	})
}

// A payment refunded in full before paidup fulfilled it (its webhooks late
// or lost) grants nothing: the refund settles it, and paidup check agrees.
// One refunded in part still grants, with the refund recorded.
func TestRefundedBeforeFulfilment(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		for _, tc := range []struct {
			name      string
			refund    int64
			state     string
			grants    int
			refunded  int64
			ungranted bool
		}{
			{"in full", 24900, paidup.AttemptRefunded, 0, 24900, true},
			{"in part", 4900, paidup.AttemptFulfilled, 1, 4900, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				b := setup(t, engine)
				a := b.bought(t, proAnnual, "ada@example.com")
				co := b.checkout(t, a.CheckoutID)
				b.sb.Refund(t, co.PaymentID, tc.refund)

				for range 2 {
					out, err := b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByReconciler)
					require.NoError(t, err)
					require.Equal(t, tc.state, out.State)
				}
				require.Equal(t, tc.grants, b.count(t, `SELECT count(*) FROM grants`))
				require.Equal(t, tc.grants, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'confirmation'`))
				var refunded int64
				require.NoError(t, b.db.Read.QueryRow(`SELECT amount_refunded FROM payments`).Scan(&refunded))
				require.Equal(t, tc.refunded, refunded)
				got, err := b.store.CheckoutAttempt(ctx, a.Reference)
				require.NoError(t, err)
				require.Equal(t, tc.state, got.Status)
				report, err := b.store.Check(ctx)
				require.NoError(t, err)
				require.Empty(t, report.Violations)

				// The refund is told once, however many times its events
				// come, with what it means for access.
				for range 2 {
					_, err := b.svc.SyncRefunds(ctx, co.PaymentID, paidup.ByWebhook, "evt_refund")
					require.NoError(t, err)
				}
				var told []store.Email
				emails, err := b.store.Emails(ctx, got.CustomerID)
				require.NoError(t, err)
				for _, e := range emails {
					if e.Kind == "refund_issued" {
						told = append(told, e)
					}
				}
				require.Len(t, told, 1, "one refund, one email")
				d := told[0].Data
				require.True(t, paidup.IsReference(d["reference"]), d["reference"])
				require.Equal(t, tc.ungranted, d["ungranted"] != "")
				require.Equal(t, tc.ungranted, d["keeps"] == "", "a refund before anything was granted leaves nothing to keep")
				require.Empty(t, d["ended"], "no access ended: none was granted by the refunded part")
			})
		}
	})
}
