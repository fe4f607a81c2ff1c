package checkout_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// withPolicy runs the bundle's service under a copy of the test policy,
// changed by change.
func (b *testBundle) withPolicy(change func(p *paidup.Policy)) {
	p := policy
	p.Plans = append([]paidup.Plan(nil), policy.Plans...)
	change(&p)
	b.svc.Policy = &p
}

// paidFor buys plan as email and fulfils it from the return page.
func (b *testBundle) paidFor(t *testing.T, plan paidup.Plan, email string) (paidup.CheckoutAttempt, checkout.Outcome) {
	t.Helper()
	a := b.bought(t, plan, email)
	out, err := b.svc.Fulfil(context.Background(), a.CheckoutID, paidup.ByReturnPage)
	require.NoError(t, err)
	a, err = b.store.CheckoutAttempt(context.Background(), a.Reference)
	require.NoError(t, err)
	return a, out
}

// refundJob runs the refund job for a payment, as River would on its
// attempt'th try.
func (b *testBundle) refundJob(svc *checkout.Service, paymentID string, attempt int) error {
	w := &checkout.RefundWorker{Service: svc}
	return w.Work(context.Background(), &river.Job[checkout.RefundArgs]{
		JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: checkout.RefundArgs{}.InsertOpts().MaxAttempts},
		Args:   checkout.RefundArgs{Processor: "stripe", PaymentID: paymentID, Reason: paidup.RefundDuplicate},
	})
}

// processorRefunds is how many refunds the processor has of a payment.
func (b *testBundle) processorRefunds(t *testing.T, paymentID string) int {
	t.Helper()
	list := b.sb.Call(t, http.MethodGet, "/v1/refunds?payment_intent="+paymentID, nil)
	return len(list["data"].([]any))
}

// Buying Pro for a year while holding it grants nothing more: the second
// payment is refunded, once, however often the job runs, and the customer
// is emailed once, told they keep what they had.
func TestDuplicatePurchaseRefunded(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		_, first := b.paidFor(t, proAnnual, "ada@example.com")
		require.Equal(t, paidup.AttemptFulfilled, first.State)

		b.clock.Advance(30 * 24 * time.Hour)
		a, out := b.paidFor(t, proAnnual, "ada@example.com")
		require.Equal(t, paidup.AttemptDuplicate, out.State)
		require.Equal(t, paidup.AttemptDuplicate, a.Status)
		grants, err := b.store.Grants(ctx, first.CustomerID)
		require.NoError(t, err)
		require.Len(t, grants, 1, "the second payment grants nothing")
		require.Equal(t, 1, b.jobs(t, "refund_payment"))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'confirmation'`), "no second \"You're in\"")
		require.Contains(t, b.summaries(t, first.CustomerID, ""), "No access granted: a second purchase of Pro, which they hold until 23 November 2027; refunding it")

		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
		require.Len(t, report.Refunding, 1, "being refunded, not broken")

		// Fulfilled again (the webhook, the reconciler): still one job.
		_, err = b.svc.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
		require.NoError(t, err)
		require.Equal(t, 1, b.jobs(t, "refund_payment"))

		require.NoError(t, b.refundJob(b.svc, a.PaymentID, 1))
		require.NoError(t, b.refundJob(b.svc, a.PaymentID, 2), "run twice: the refund is there already")
		require.Equal(t, 1, b.processorRefunds(t, a.PaymentID))
		p, found, err := b.store.Payment(ctx, "stripe", a.PaymentID)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, paidup.PaymentRefunded, p.Status)

		emails, err := b.store.Emails(ctx, first.CustomerID)
		require.NoError(t, err)
		var refunds []store.Email
		for _, e := range emails {
			if e.Kind == "refund_issued" {
				refunds = append(refunds, e)
			}
		}
		require.Len(t, refunds, 1)
		d := refunds[0].Data
		require.True(t, paidup.IsReference(d["reference"]), d["reference"])
		require.NotEqual(t, a.Reference, d["reference"], "the refund has a reference of its own")
		require.Equal(t, "1", d["duplicate"])
		require.Equal(t, "1", d["full"])
		require.Equal(t, "pro", d["keeps"])
		require.Equal(t, "2027-11-23T12:00:00Z", d["keeps_until"])
		timeline, err := b.store.Timeline(ctx, "", d["reference"])
		require.NoError(t, err)
		require.NotEmpty(t, timeline, "support finds the refund by its reference")

		report, err = b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
		require.Empty(t, report.Refunding)
	})
}

// With duplicate_purchase: case, a person decides: no grant, no refund,
// an open case, and the attempt waits for them.
func TestDuplicatePurchaseCase(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		b.withPolicy(func(p *paidup.Policy) { p.Lifecycle.DuplicatePurchase = paidup.DuplicateCase })
		b.paidFor(t, memberForLife, "ada@example.com")
		a, out := b.paidFor(t, memberForLife, "ada@example.com")
		require.Equal(t, paidup.AttemptNeedsAttention, out.State)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases WHERE kind = $1 AND payment_id = $2`, paidup.CaseDuplicatePurchase, a.PaymentID))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'case_opened' AND to_address = 'ada@example.com'`),
			"the customer is told a person is looking at it, as the status page says")
		require.Zero(t, b.jobs(t, "refund_payment"))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM grants`))
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
		require.Len(t, report.AwaitingPerson, 1)
	})
}

// A plan that extends adds its term after the one held: the new grant
// starts where the current ends, and nothing overlaps.
func TestExtendingPurchase(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		b.withPolicy(func(p *paidup.Policy) { p.Plans[0].Extends = true })
		extending := b.svc.Policy.Plans[0]
		_, first := b.paidFor(t, extending, "ada@example.com")
		b.clock.Advance(30 * 24 * time.Hour)
		_, second := b.paidFor(t, extending, "ada@example.com")
		require.Equal(t, paidup.AttemptFulfilled, second.State)
		require.Equal(t, first.Grant.End, second.Grant.Start)
		require.Equal(t, time.Date(2028, 11, 23, 12, 0, 0, 0, time.UTC), second.Grant.End)
		// And again: after the extension, not beside it.
		_, third := b.paidFor(t, extending, "ada@example.com")
		require.Equal(t, second.Grant.End, third.Grant.Start)
		require.Zero(t, b.jobs(t, "refund_payment"))
		require.Contains(t, b.summaries(t, first.CustomerID, ""), "Access extended: Pro, until 23 November 2028 (held until 23 November 2027; the new term starts then)")
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)

		// A lifetime holder buying a term has nothing to extend: a
		// duplicate, refunded.
		b.paidFor(t, memberForLife, "bob@example.com")
		_, again := b.paidFor(t, memberForLife, "bob@example.com")
		require.Equal(t, paidup.AttemptDuplicate, again.State)
	})
}

// refusingRefunds is a processor that cannot refund.
type refusingRefunds struct{ paidup.Processor }

func (refusingRefunds) RefundPayment(context.Context, string, string, string) (paidup.Refund, error) {
	return paidup.Refund{}, paidup.Errorf(paidup.EUNAVAILABLE, "down")
}

// A refund the processor will not make is retried, then, at the last
// try, handed to a person; nothing is refunded twice.
func TestDuplicateRefundGivesUp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		b.paidFor(t, proAnnual, "ada@example.com")
		a, _ := b.paidFor(t, proAnnual, "ada@example.com")
		down := *b.svc
		down.Processor = refusingRefunds{b.svc.Processor}
		require.Error(t, b.refundJob(&down, a.PaymentID, 1))
		require.Zero(t, b.count(t, `SELECT count(*) FROM support_cases WHERE payment_id = $1`, a.PaymentID))
		err := b.refundJob(&down, a.PaymentID, 15)
		var cancel *river.JobCancelError
		require.True(t, errors.As(err, &cancel), "%v", err)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases WHERE kind = $1 AND payment_id = $2`, paidup.CaseRefundFailed, a.PaymentID))
		require.Zero(t, b.processorRefunds(t, a.PaymentID))
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
		require.Empty(t, report.Refunding)
		require.Len(t, report.AwaitingPerson, 1)
	})
}

// paidup check reports a customer paying twice for the same access,
// until a case or a refund accounts for it.
func TestCheckFindsPayingTwice(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		_, first := b.paidFor(t, proAnnual, "ada@example.com")
		// As paidup granted before it knew of duplicates.
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.RecordPayment(ctx, paidup.Payment{Processor: "stripe", ID: "pi_twice", CustomerID: first.CustomerID,
				PlanID: proAnnual.ID, Amount: proAnnual.Amount, PaidAt: tx.Now()}); err != nil {
				return err
			}
			_, _, err := tx.InsertGrant(ctx, paidup.Grant{CustomerID: first.CustomerID, Tier: "pro", PlanID: proAnnual.ID,
				Source: paidup.SourceManual, SourceRef: "not paid"})
			if err != nil {
				return err
			}
			_, _, err = tx.InsertGrant(ctx, paidup.Grant{CustomerID: first.CustomerID, Tier: "pro", PlanID: proAnnual.ID,
				Source: paidup.SourcePurchase, SourceRef: "stripe:pi_twice", Start: tx.Now().Add(time.Hour), End: tx.Now().AddDate(1, 0, 0)})
			return err
		}))
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		var twice []store.Violation
		for _, v := range report.Violations {
			if v.Rule == "a customer pays twice for the same access, without a case or refund" {
				twice = append(twice, v)
			}
		}
		require.Len(t, twice, 1, "%v", report.Violations)
		require.Contains(t, twice[0].Detail, "stripe:pi_twice")

		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "test", CustomerID: first.CustomerID, PaymentID: "pi_twice",
				Kind: paidup.CaseDuplicatePurchase, Summary: "paid twice"})
			return err
		}))
		report, err = b.store.Check(ctx)
		require.NoError(t, err)
		for _, v := range report.Violations {
			require.NotEqual(t, twice[0].Rule, v.Rule, "a case accounts for it")
		}
	})
}

// What a customer holds of a tier: paid grants only, an extension not
// begun yet counts, and a subscription period ends with the period, not
// with the leeway while its renewal is charged.
func TestHeld(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	year := paidup.Grant{ID: "year", Tier: "pro", Source: paidup.SourcePurchase, SourceRef: "stripe:pi_1", Start: now.AddDate(-1, 0, 1), End: now.AddDate(0, 0, 1)}
	next := paidup.Grant{ID: "next", Tier: "pro", Source: paidup.SourcePurchase, SourceRef: "stripe:pi_2", Start: year.End, End: year.End.AddDate(1, 0, 0)}
	period := paidup.Grant{ID: "period", Tier: "pro", Source: paidup.SourceSubscription, SourceRef: "stripe:pi_3",
		Start: now.AddDate(0, -1, 0), End: now.Add(-time.Minute).Add(checkout.SubscriptionLeeway)}
	renewal := paidup.Grant{ID: "renewal", Tier: "pro", Source: paidup.SourceSubscription, SourceRef: "stripe:pi_5",
		Start: now.AddDate(0, 1, 0), End: now.AddDate(0, 2, 0).Add(checkout.SubscriptionLeeway)}
	manual := paidup.Grant{ID: "manual", Tier: "pro", Source: paidup.SourceManual, SourceRef: "comp", Start: now.AddDate(-1, 0, 0)}
	member := paidup.Grant{ID: "member", Tier: "member", Source: paidup.SourcePurchase, SourceRef: "stripe:pi_4", Start: now.AddDate(-1, 0, 0)}
	for _, tt := range []struct {
		name   string
		grants []paidup.Grant
		want   string
	}{
		{"a term", []paidup.Grant{year}, "year"},
		{"a term and its extension", []paidup.Grant{year, next}, "next"},
		{"a period within its leeway", []paidup.Grant{period}, ""},
		{"a manual grant", []paidup.Grant{manual}, ""},
		{"a later period: the subscription's renewal, fulfilled late", []paidup.Grant{renewal}, ""},
		{"another tier", []paidup.Grant{member}, ""},
		{"the payment itself", []paidup.Grant{{ID: "self", Tier: "pro", Source: paidup.SourcePurchase, SourceRef: "stripe:pi_new", Start: now}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, ok := checkout.Held(tt.grants, proAnnual, now, "stripe:pi_new")
			require.Equal(t, tt.want != "", ok)
			require.Equal(t, tt.want, g.ID)
		})
	}
}
