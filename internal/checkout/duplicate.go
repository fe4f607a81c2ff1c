package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/store"
)

// Held is what a customer already holds of a plan's tier at a moment: the
// paid grant of that tier (a one-time purchase or a subscription period),
// active then (or, a one-time purchase, starting later), that lasts longest, a permanent one
// first; a subscription period's ends with the period. Manual grants and graces are
// not paid for, so buying the tier beside one is no duplicate.
func Held(grants []paidup.Grant, plan paidup.Plan, at time.Time, except string) (paidup.Grant, bool) {
	var best paidup.Grant
	found := false
	for _, g := range grants {
		if g.Source == paidup.SourceSubscription && !g.End.IsZero() {
			// What was paid for: the period, not the leeway while its
			// renewal is charged (a renewal that fails is the lifecycle's
			// double buy, not this).
			g.End = g.End.Add(-SubscriptionLeeway)
		}
		// A one-time extension not begun yet. A subscription period that
		// begins later is a renewal: asked about a moment gone by (a
		// subscription's first payment, fulfilled late), it is the
		// subscription's own, never something held before it.
		later := g.Start.After(at) && g.Revoked.IsZero() && g.Source == paidup.SourcePurchase
		if g.Tier != plan.Tier || g.SourceRef == except || !(g.ActiveAt(at) || later) ||
			(g.Source != paidup.SourcePurchase && g.Source != paidup.SourceSubscription) {
			continue
		}
		if !found || outlasts(g, best) {
			best, found = g, true
		}
	}
	return best, found
}

// outlasts reports whether a ends later than b; a permanent grant
// outlasts every other.
func outlasts(a, b paidup.Grant) bool {
	switch {
	case a.End.IsZero():
		return !b.End.IsZero()
	case b.End.IsZero():
		return false
	}
	return a.End.After(b.End)
}

// Until writes when a grant ends, for people: "until 3 December 2027",
// or "for good".
func Until(g paidup.Grant) string {
	if g.End.IsZero() {
		return "for good"
	}
	return "until " + g.End.Format("2 January 2006")
}

// duplicate is what a purchase of a tier the customer holds comes to.
type duplicate struct {
	held paidup.Grant
	// extendFrom is where the new grant starts when the plan extends the
	// held term; zero when it does not.
	extendFrom time.Time
	// refund: the payment is refunded and grants nothing; otherwise a
	// person is asked (refund false, with a case).
	refund bool
}

// duplicateOf says whether a purchase of plan, paid at paidAt by
// customerID, is of a tier they already hold, and what becomes of it. A
// one-time plan that extends adds its term after a held term; a
// subscription bought beside what they hold is granted and flagged, since
// a person must choose which to keep; any other is refunded or flagged as
// the policy says.
func (s *Service) duplicateOf(ctx context.Context, tx *store.Tx, customerID string, plan paidup.Plan, paidAt time.Time, sourceRef string) (duplicate, bool, error) {
	grants, err := tx.Grants(ctx, customerID)
	if err != nil {
		return duplicate{}, false, err
	}
	held, ok := Held(grants, plan, paidAt, sourceRef)
	if !ok {
		return duplicate{}, false, nil
	}
	d := duplicate{held: held}
	switch {
	case plan.Interval.Recurring():
	case plan.Extends && !held.End.IsZero():
		d.extendFrom = held.End
	default:
		d.refund = s.Policy.Lifecycle.DuplicatePurchase != paidup.DuplicateCase
	}
	return d, true, nil
}

// flagDuplicate opens the support case for a duplicate purchase a person
// must settle.
func (s *Service) flagDuplicate(ctx context.Context, tx *store.Tx, d duplicate, plan paidup.Plan, customerID, ref, paymentID string, amount paidup.Money) error {
	what, kind := "refund it, or grant it by hand", paidup.CaseDuplicatePurchase
	if plan.Interval.Recurring() {
		what, kind = "cancel and refund the subscription, or leave both", paidup.CaseOverlappingSubscription
	}
	return s.Notify.OpenCase(ctx, tx, paidup.SupportCase{
		DedupeKey: "duplicate_purchase:" + s.Processor.Name() + ":" + paymentID, CustomerID: customerID, Reference: ref,
		PaymentID: paymentID, Kind: kind,
		Summary: fmt.Sprintf("Paid %s for %s while already holding %s %s (grant %s): %s",
			amount, plan.Name, s.Policy.TierName(plan.Tier), Until(d.held), d.held.ID, what),
	})
}

// settleDuplicate settles a one-time purchase of a tier the customer
// holds: no grant; the payment is refunded by a job enqueued here, or a
// person is asked, as the policy says.
func (s *Service) settleDuplicate(ctx context.Context, tx *store.Tx, d duplicate, plan paidup.Plan, customerID, ref string,
	co paidup.Checkout, entry func(kind, summary string) error) (Outcome, error) {
	held := fmt.Sprintf("%s, which they hold %s", s.Policy.TierName(plan.Tier), Until(d.held))
	if !d.refund {
		if err := entry(paidup.EventGrant, "No access granted: a second purchase of "+held+"; a person decides"); err != nil {
			return Outcome{}, err
		}
		if err := s.flagDuplicate(ctx, tx, d, plan, customerID, ref, co.PaymentID, co.Amount); err != nil {
			return Outcome{}, err
		}
		if err := tx.ResolveAttempt(ctx, ref, paidup.AttemptNeedsAttention, customerID, co.PaymentID); err != nil {
			return Outcome{}, err
		}
		return Outcome{State: paidup.AttemptNeedsAttention, CustomerID: customerID}, nil
	}
	if err := entry(paidup.EventGrant, "No access granted: a second purchase of "+held+"; refunding it"); err != nil {
		return Outcome{}, err
	}
	if err := tx.Enqueue(ctx, RefundArgs{Processor: s.Processor.Name(), PaymentID: co.PaymentID, Reason: paidup.RefundDuplicate}, nil); err != nil {
		return Outcome{}, err
	}
	if err := tx.ResolveAttempt(ctx, ref, paidup.AttemptDuplicate, customerID, co.PaymentID); err != nil {
		return Outcome{}, err
	}
	return Outcome{State: paidup.AttemptDuplicate, CustomerID: customerID}, nil
}

// flagHeldBeside flags a subscription's first grant g, made by its sync
// before its checkout was fulfilled, if the customer held its tier
// already when it started.
func (s *Service) flagHeldBeside(ctx context.Context, tx *store.Tx, g paidup.Grant, plan paidup.Plan, ref string, co paidup.Checkout) error {
	grants, err := tx.Grants(ctx, g.CustomerID)
	if err != nil {
		return err
	}
	held, ok := Held(grants, plan, g.Start, g.SourceRef)
	if !ok {
		return nil
	}
	return s.flagDuplicate(ctx, tx, duplicate{held: held}, plan, g.CustomerID, ref, co.PaymentID, co.Amount)
}

// RefundArgs is the job that refunds a payment at the processor: a
// duplicate purchase. It is enqueued in the transaction that records the
// payment, so it exists exactly when the payment does.
type RefundArgs struct {
	Processor string `json:"processor"`
	PaymentID string `json:"payment_id"`
	Reason    string `json:"reason"` // paidup.RefundDuplicate
}

// Kind names the job.
func (RefundArgs) Kind() string { return "refund_payment" }

// InsertOpts: retried for about a day, then a person is asked.
func (RefundArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 15} }

// RefundWorker refunds payments at the processor (RefundArgs), then
// records the refund as any refund is recorded (ApplyRefunds), with its
// email to the customer.
type RefundWorker struct {
	river.WorkerDefaults[RefundArgs]
	Service *Service
}

// errRefundPending: the processor has a refund of the payment under way.
var errRefundPending = errors.New("a refund of the payment is pending at the processor")

// Work refunds the job's payment once. What the processor has refunded
// already is read first, and the refund is asked for under a key of the
// payment's, so that a crash between the processor refunding and paidup
// recording it, and the job running again, gives one refund, not two.
func (w *RefundWorker) Work(ctx context.Context, job *river.Job[RefundArgs]) error {
	s, a := w.Service, job.Args
	err := s.refundOnce(ctx, a)
	if err == nil {
		return nil
	}
	if job.Attempt < job.MaxAttempts {
		return err
	}
	err = errors.Join(err, s.Store.InTx(ctx, func(tx *store.Tx) error {
		p, found, err := tx.PaymentForUpdate(ctx, a.Processor, a.PaymentID)
		if err != nil || !found {
			return err
		}
		return s.Notify.OpenCase(ctx, tx, paidup.SupportCase{
			DedupeKey: "refund:" + a.Processor + ":" + a.PaymentID, CustomerID: p.CustomerID, Reference: p.CheckoutReference,
			PaymentID: p.ID, Kind: paidup.CaseRefundFailed,
			Summary: fmt.Sprintf("paidup could not refund payment %s of %s (%s) at the processor: %v. Refund it by hand; it grants nothing.",
				p.ID, p.Amount, a.Reason, err),
		})
	}))
	return river.JobCancel(err)
}

func (s *Service) refundOnce(ctx context.Context, a RefundArgs) error {
	pr, err := s.Processor.Refunds(ctx, a.PaymentID)
	if err != nil {
		return fmt.Errorf("reading the refunds of %s: %w", a.PaymentID, err)
	}
	if len(pr.Failed()) > 0 {
		// A refund of it failed: recording it opens a case, and a person
		// refunds the customer another way.
		_, err := s.ApplyRefunds(ctx, pr, paidup.BySystem, "refund of a "+a.Reason+" purchase")
		return err
	}
	var pending int64
	for _, re := range pr.Refunds {
		if re.Status == paidup.RefundPending {
			pending += re.Amount.Amount
		}
	}
	if pr.Refunded()+pending < pr.Amount.Amount {
		if _, err := s.Processor.RefundPayment(ctx, a.PaymentID, a.Reason, a.Reason+"-"+a.PaymentID); err != nil {
			return err
		}
		failpoint.Inject("refund.after_refund")
		if pr, err = s.Processor.Refunds(ctx, a.PaymentID); err != nil {
			return fmt.Errorf("reading the refunds of %s: %w", a.PaymentID, err)
		}
	}
	if _, err := s.ApplyRefunds(ctx, pr, paidup.BySystem, "refund of a "+a.Reason+" purchase"); err != nil {
		return err
	}
	failpoint.Inject("refund.after_record")
	if pr.Refunded() < pr.Amount.Amount {
		return errRefundPending // until it succeeds, or fails and a case opens
	}
	return nil
}
