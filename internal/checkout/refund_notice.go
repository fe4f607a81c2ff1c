package checkout

import (
	"context"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// RefundNotice is what the "refund issued" email tells a customer: how
// much of which purchase came back, and their access as it stands after
// the refund.
type RefundNotice struct {
	CustomerID string
	Email      string
	Processor  string
	Refund     paidup.Refund
	Payment    paidup.Payment
	// Tier is the tier the refunded payment was for.
	Tier string
	// Full: the payment is refunded in full.
	Full bool
	// Duplicate: the payment granted nothing, since the customer held its
	// tier already (see Lifecycle.DuplicatePurchase).
	Duplicate bool
	// Ungranted: the payment was refunded in full before it granted
	// anything (a purchase refunded before paidup fulfilled it, or one a
	// person holds).
	Ungranted bool
	// Ended is when the refund ended the access the payment granted; zero
	// if it did not.
	Ended time.Time
	// Access is the customer's access after the refund.
	Access paidup.Access
}

// tell queues the email for each of the payment's refunds that succeeded,
// once per refund (the email's key is the refund's), with the customer's
// access after this change. It runs when the amount refunded went up, in
// the transaction that records it.
func (r *refundChange) tell(full bool) error {
	cu, err := r.tx.Customer(r.ctx, r.p.CustomerID)
	if err != nil {
		return err
	}
	grants, err := r.tx.Grants(r.ctx, r.p.CustomerID)
	if err != nil {
		return err
	}
	blocks, err := r.tx.Blocks(r.ctx, r.p.CustomerID)
	if err != nil {
		return err
	}
	g, granted, err := r.grant()
	if err != nil {
		return err
	}
	plan, _ := r.s.Policy.Plan(r.p.PlanID)
	n := RefundNotice{
		CustomerID: r.p.CustomerID, Email: cu.Email, Processor: r.p.Processor, Payment: r.p, Tier: plan.Tier, Full: full,
		Access: r.s.Policy.AccessAt(grants, blocks, r.tx.Now()),
	}
	if !granted && r.p.CheckoutReference != "" {
		a, err := r.s.Store.CheckoutAttempt(r.ctx, r.p.CheckoutReference)
		n.Duplicate = err == nil && a.Status == paidup.AttemptDuplicate
	}
	n.Ungranted = !granted && !n.Duplicate && full // in part, the rest may yet grant (a person's case)
	if granted && full && g.RevokeReason == RefundRevokeReason {
		n.Ended = g.Revoked
	}
	for _, re := range r.refunds {
		if re.Status != paidup.RefundSucceeded {
			continue
		}
		n.Refund = re
		if err := r.s.Notify.QueueRefundIssued(r.ctx, r.tx, n); err != nil {
			return err
		}
	}
	return nil
}

// tellEarlyRefund tells the customer of the refunds of co's payment, made
// before paidup granted it (in full, or in part: full says which), in the
// transaction that records them: once per refund, by the same key as any
// refund's email, so that a refund event read later tells nothing twice.
func (s *Service) tellEarlyRefund(ctx context.Context, tx *store.Tx, co paidup.Checkout, source string, full bool) error {
	p, found, err := tx.PaymentForUpdate(ctx, s.Processor.Name(), co.PaymentID)
	if err != nil || !found {
		return err
	}
	r := refundChange{s: s, ctx: ctx, tx: tx, p: p, source: source, ids: map[string]string{"payment": p.ID}, refunds: co.Refunds}
	return r.tell(full)
}
