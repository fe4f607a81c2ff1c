package checkout

import (
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
	Payment    store.Payment
	// Tier is the tier the refunded payment was for.
	Tier string
	// Full: the payment is refunded in full.
	Full bool
	// Duplicate: the payment granted nothing, since the customer held its
	// tier already (see Lifecycle.DuplicatePurchase).
	Duplicate bool
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
	_, granted, err := r.grant()
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
