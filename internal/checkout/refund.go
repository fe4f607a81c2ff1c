package checkout

import (
	"context"
	"fmt"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// RefundRevokeReason is why a grant ends when its payment is refunded in
// full; a grant revoked for it is given back if the refund fails.
const RefundRevokeReason = "payment refunded"

// SyncRefunds reads a payment's refunds from the processor and records
// them (see ApplyRefunds). An event about a refund is a hint: what counts
// is what the processor says now. source says who asked (paidup.ByWebhook,
// paidup.ByReconciler); prompt names what prompted it (an event, a
// refund), for the timeline.
func (s *Service) SyncRefunds(ctx context.Context, paymentID, source, prompt string) (changed bool, err error) {
	pr, err := s.Processor.Refunds(ctx, paymentID)
	if err != nil {
		return false, fmt.Errorf("reading the refunds of %s: %w", paymentID, err)
	}
	return s.ApplyRefunds(ctx, pr, source, prompt)
}

// ApplyRefunds records a payment's refunds as the processor has them now.
// The amount refunded is that of the refunds that succeeded. A full refund
// ends the access the payment granted; a partial one does not. When the
// amount refunded goes down — a refund failed at the processor, or
// paidup's record was wrong — access ended by the refund is given back,
// and a failed refund opens a support case, since the customer has not
// had their money back. Each refund that succeeded is told to the
// customer by email, once, with what it means for their access (see
// RefundNotice); a failed one is not, as the case asks a person to speak
// to them. Applying the same refunds again changes nothing. It reports whether paidup's record of a known payment
// changed.
func (s *Service) ApplyRefunds(ctx context.Context, pr paidup.PaymentRefunds, source, prompt string) (changed bool, err error) {
	processor := s.Processor.Name()
	err = s.Store.InTx(ctx, func(tx *store.Tx) error {
		changed = false // on SQLite a transaction may run twice
		p, found, err := tx.PaymentForUpdate(ctx, processor, pr.PaymentID)
		if err != nil {
			return err
		}
		if !found {
			// Not recorded yet (a renewal whose own events are still on
			// their way), or none of paidup's: kept, so that the payment,
			// if it is ever recorded, grants nothing it should not.
			return tx.SetEarlyRefund(ctx, processor, pr.PaymentID, pr.Refunded())
		}
		r := refundChange{s: s, ctx: ctx, tx: tx, p: p, source: source, ids: map[string]string{"payment": p.ID}, refunds: pr.Refunds}
		if prompt != "" {
			r.ids["prompted_by"] = prompt
		}
		for _, re := range pr.Failed() {
			if err := r.failed(re); err != nil {
				return err
			}
		}
		changed, err = r.apply(pr.Refunded())
		return err
	})
	return changed, err
}

// refundChange is one payment's refunds being recorded in a transaction.
type refundChange struct {
	s      *Service
	ctx    context.Context
	tx     *store.Tx
	p      paidup.Payment // as paidup had it
	source string
	ids    map[string]string
	// refunds are the payment's refunds as the processor has them now.
	refunds []paidup.Refund
}

func (r *refundChange) entry(kind, summary string) error {
	return r.tx.Append(r.ctx, paidup.TimelineEntry{CustomerID: r.p.CustomerID, Reference: r.p.CheckoutReference, Kind: kind,
		Source: r.source, Summary: summary, Data: r.ids})
}

func (r *refundChange) money(amount int64) paidup.Money {
	return paidup.Money{Amount: amount, Currency: r.p.Amount.Currency}
}

// apply records the amount refunded, and ends or gives back the access
// the payment granted as the payment becomes, or stops being, refunded in
// full.
func (r *refundChange) apply(refunded int64) (bool, error) {
	changed, err := r.tx.SetRefunded(r.ctx, r.p.Processor, r.p.ID, refunded)
	if err != nil || !changed {
		return false, err
	}
	wasFull := r.p.Status == paidup.PaymentRefunded
	full := refunded >= r.p.Amount.Amount
	switch {
	case refunded > r.p.AmountRefunded:
		err = r.entry(paidup.EventPayment, fmt.Sprintf("Refund recorded: %s of %s", r.money(refunded), r.p.Amount))
	case refunded < r.p.AmountRefunded:
		err = r.entry(paidup.EventPayment, fmt.Sprintf("Refund corrected: the processor has %s of %s refunded, not %s",
			r.money(refunded), r.p.Amount, r.money(r.p.AmountRefunded)))
	}
	if err != nil {
		return false, err
	}
	switch {
	case full && !wasFull:
		err = r.endAccess()
	case wasFull && !full:
		err = r.restoreAccess()
	}
	if err == nil && refunded > r.p.AmountRefunded {
		err = r.tell(full)
	}
	return true, err
}

// grant is the grant the payment made: a one-time purchase's, or a
// subscription period's.
func (r *refundChange) grant() (paidup.Grant, bool, error) {
	ref := r.p.Processor + ":" + r.p.ID
	g, found, err := r.tx.GrantBySource(r.ctx, paidup.SourcePurchase, ref)
	if err == nil && !found {
		g, found, err = r.tx.GrantBySource(r.ctx, paidup.SourceSubscription, ref)
	}
	return g, found, err
}

// endAccess revokes the payment's grant: it was refunded in full.
func (r *refundChange) endAccess() error {
	g, found, err := r.grant()
	if err != nil || !found {
		return err
	}
	revoked, err := r.tx.RevokeGrant(r.ctx, g.ID, RefundRevokeReason)
	if err != nil || !revoked {
		return err
	}
	r.ids["grant"] = g.ID
	return r.entry(paidup.EventGrant, "Access ended: the payment was refunded in full")
}

// restoreAccess gives back the payment's grant if its full refund ended it:
// the refund did not go through. A chargeback since keeps it ended, as it
// would have ended it.
func (r *refundChange) restoreAccess() error {
	g, found, err := r.grant()
	if err != nil || !found || g.Revoked.IsZero() || g.RevokeReason != RefundRevokeReason {
		return err
	}
	r.ids["grant"] = g.ID
	blocks, err := r.tx.ActiveBlocks(r.ctx, r.p.CustomerID)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if b.Source == paidup.BlockDispute && g.Start.Before(b.CreatedAt) {
			return r.entry(paidup.EventGrant, "The refund did not go through, but access stays ended: a chargeback ("+b.Reason+") ended it too")
		}
	}
	restored, err := r.tx.RestoreGrant(r.ctx, g.ID, RefundRevokeReason)
	if err != nil || !restored {
		return err
	}
	return r.entry(paidup.EventGrant, "Access restored: the refund did not go through")
}

// failed opens a support case for a refund that failed, once: the
// customer has not had their money back, and only a person can arrange it.
func (r *refundChange) failed(re paidup.Refund) error {
	why := ""
	if re.FailureReason != "" {
		why = " (" + re.FailureReason + ")"
	}
	return r.s.Notify.OpenCase(r.ctx, r.tx, paidup.SupportCase{
		DedupeKey: "refund_failed:" + r.p.Processor + ":" + re.ID, CustomerID: r.p.CustomerID, Reference: r.p.CheckoutReference,
		PaymentID: r.p.ID, Kind: paidup.CaseRefundFailed,
		Summary: fmt.Sprintf("Refund %s of %s (payment %s) failed at the processor%s: the customer has not had the money back (if they were emailed that it was refunded, under reference %s, tell them it was not). paidup gave back any access the refund had ended. Refund them another way, or end their access by hand.",
			re.ID, re.Amount, r.p.ID, why, paidup.RefundReference(r.p.Processor, re.ID)),
	})
}
