package support

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/store"
)

// RefundRequest says what to refund.
type RefundRequest struct {
	PaymentID string
	// Amount is how much to refund, in the payment's minor unit (cents);
	// zero: all that is left of the payment.
	Amount int64
	// EndGrant ends the grant the payment paid for now. A refund in full
	// ends it anyway once the processor confirms the refund; a partial
	// refund ends nothing without it.
	EndGrant bool
}

// RefundPreview is exactly what a refund will do, before it is done.
type RefundPreview struct {
	Customer paidup.Customer
	Payment  paidup.Payment
	Amount   paidup.Money // what is refunded
	// Left is what of the payment may still be refunded: not refunded
	// and not being refunded.
	Left paidup.Money
	// Full: the refund leaves nothing of the payment paid.
	Full bool
	// Grant is the grant the payment paid for, if any.
	Grant    paidup.Grant
	HasGrant bool
	// AccessNow is the customer's access now, AccessAfter once the refund
	// is confirmed.
	AccessNow, AccessAfter paidup.Access
	// Lines say it all, in words for people.
	Lines []string
}

// RefundOutcome is what a refund did.
type RefundOutcome struct {
	Result
	Preview RefundPreview
	// Refund is the processor's refund.
	Refund paidup.Refund
	// Pending: paidup has not yet recorded the refund as succeeded; the
	// refund's events and the reconciler record it when the processor
	// confirms it.
	Pending bool
}

// refundReason is the reason given to the processor for a person's refund.
const refundReason = "requested_by_customer"

// refundKey is the processor's idempotency key of a request's refund.
func refundKey(requestID string) string { return "support-" + requestID }

// PreviewRefund says what refunding rr would do, without doing it: which
// payment, how much, what stays paid, what access ends or stays. It asks
// the processor what is refunded already.
func (s *Service) PreviewRefund(ctx context.Context, customerID string, rr RefundRequest) (RefundPreview, error) {
	return s.preview(ctx, customerID, rr, "")
}

// preview is PreviewRefund, counting the refund made (if any) as not made
// yet: the preview of a request whose refund the processor made already.
func (s *Service) preview(ctx context.Context, customerID string, rr RefundRequest, made string) (RefundPreview, error) {
	var pv RefundPreview
	if s.Refunds == nil {
		return pv, paidup.Errorf(paidup.EUNAVAILABLE, "Refunds need the payment processor, which this paidup is not given.")
	}
	processor := s.Refunds.Name()
	p, found, err := s.Store.Payment(ctx, processor, rr.PaymentID)
	if err != nil {
		return pv, err
	}
	if !found || p.CustomerID != customerID {
		return pv, paidup.Errorf(paidup.ENOTFOUND, "The customer has no payment %s.", rr.PaymentID)
	}
	if pv.Customer, err = s.Store.Customer(ctx, customerID); err != nil {
		return pv, err
	}
	pv.Payment = p
	if p.DisputeReference != "" {
		return pv, paidup.Errorf(paidup.ECONFLICT, "Payment %s has a chargeback (%s): the bank is taking the money back, so it cannot be refunded as well.",
			p.ID, p.DisputeReference)
	}
	pr, err := s.Refunds.Refunds(ctx, p.ID)
	if err != nil {
		return pv, fmt.Errorf("asking the processor what of %s is refunded: %w", p.ID, err)
	}
	left := pr.Amount.Amount
	for _, re := range pr.Refunds {
		if re.ID != made && (re.Status == paidup.RefundSucceeded || re.Status == paidup.RefundPending) {
			left -= re.Amount.Amount
		}
	}
	money := func(n int64) paidup.Money { return paidup.Money{Amount: n, Currency: p.Amount.Currency} }
	pv.Left = money(max(left, 0))
	switch {
	case left <= 0:
		return pv, paidup.Errorf(paidup.ECONFLICT, "Payment %s (%s) is refunded, or being refunded, in full already.", p.ID, p.Amount)
	case rr.Amount < 0:
		return pv, paidup.Errorf(paidup.EINVALID, "A refund's amount must be positive.")
	case rr.Amount > left:
		return pv, paidup.Errorf(paidup.EINVALID, "%s is more than is left to refund of payment %s: %s.", money(rr.Amount), p.ID, pv.Left)
	}
	pv.Amount = money(cmp.Or(rr.Amount, left))
	pv.Full = pv.Amount.Amount == left
	grants, err := s.Store.Grants(ctx, customerID)
	if err != nil {
		return pv, err
	}
	blocks, err := s.Store.Blocks(ctx, customerID)
	if err != nil {
		return pv, err
	}
	now := s.Store.Now()
	if i := slices.IndexFunc(grants, func(g paidup.Grant) bool { return paidGrant(g, processor, p.ID) }); i >= 0 {
		pv.Grant, pv.HasGrant = grants[i], true
	}
	pv.AccessNow = s.Policy.AccessAt(grants, blocks, now)
	after := slices.Clone(grants)
	ends := pv.HasGrant && pv.Grant.Revoked.IsZero() && (pv.Full || rr.EndGrant)
	if ends {
		for i := range after {
			if after[i].ID == pv.Grant.ID {
				after[i].Revoked = now
			}
		}
	}
	pv.AccessAfter = s.Policy.AccessAt(after, blocks, now)
	pv.Lines = s.previewLines(pv, rr, ends)
	return pv, nil
}

// paidGrant reports whether g is the grant of a payment.
func paidGrant(g paidup.Grant, processor, paymentID string) bool {
	return g.SourceRef == processor+":"+paymentID && (g.Source == paidup.SourcePurchase || g.Source == paidup.SourceSubscription)
}

func (s *Service) previewLines(pv RefundPreview, rr RefundRequest, ends bool) []string {
	p := pv.Payment
	what := s.Policy.TierName(p.PlanID)
	if plan, ok := s.Policy.Plan(p.PlanID); ok {
		what = plan.Name
	}
	ref := ""
	if p.CheckoutReference != "" {
		ref = ", " + p.CheckoutReference
	}
	lines := []string{fmt.Sprintf("Refund %s of payment %s (%s for %s%s, paid %s) to %s, through the processor.",
		pv.Amount, p.ID, p.Amount, what, ref, p.PaidAt.Format("2 January 2006"), pv.Customer.Email)}
	if pv.Full {
		lines = append(lines, "That refunds what is left of the payment: nothing of it stays paid.")
	} else {
		lines = append(lines, fmt.Sprintf("%s of it stays paid.", paidup.Money{Amount: pv.Left.Amount - pv.Amount.Amount, Currency: pv.Left.Currency}))
	}
	switch {
	case !pv.HasGrant:
		lines = append(lines, "The payment granted nothing, so no access ends.")
	case !pv.Grant.Revoked.IsZero():
		lines = append(lines, fmt.Sprintf("Its grant (%s) had ended already.", pv.Grant.ID))
	case rr.EndGrant:
		lines = append(lines, fmt.Sprintf("Its grant, %s (%s), ends now.", s.describeGrant(pv.Grant), pv.Grant.ID))
	case ends:
		lines = append(lines, fmt.Sprintf("Its grant, %s (%s), ends when the processor confirms the refund: a payment refunded in full grants nothing.",
			s.describeGrant(pv.Grant), pv.Grant.ID))
	default:
		lines = append(lines, fmt.Sprintf("Its grant, %s (%s), stays: a partial refund ends nothing (ask to end the grant to end it).",
			s.describeGrant(pv.Grant), pv.Grant.ID))
	}
	lines = append(lines, fmt.Sprintf("Access now: %s; after: %s.", s.describeAccess(pv.AccessNow), s.describeAccess(pv.AccessAfter)),
		"The refund shows as pending until the processor confirms it; the customer is emailed when it does.")
	return lines
}

// Refund refunds (part of) a payment through the processor, once per
// request: the processor's idempotency key is the request's, and a refund
// the processor made under it (its answer lost to a timeout, or paidup
// stopped before recording it) is found and recorded rather than made
// again. If the processor fails, nothing is recorded, and the same
// request is safe to ask again. The refund is recorded as any refund is
// (see checkout.Service.ApplyRefunds) once the processor confirms it: at
// once if it says so now, else by the refund's events or the reconciler.
func (s *Service) Refund(ctx context.Context, r Request, customerID string, rr RefundRequest) (RefundOutcome, error) {
	var out RefundOutcome
	if err := r.check(paidup.ActionRefund); err != nil {
		return out, err
	}
	if e, found, err := s.Store.Audit(ctx, r.ID); err != nil {
		return out, err
	} else if found {
		out.Result = Result{Entry: e, Repeat: true}
		return out, sameRequest(e, paidup.ActionRefund, customerID)
	}
	if s.Refunds == nil {
		return out, paidup.Errorf(paidup.EUNAVAILABLE, "Refunds need the payment processor, which this paidup is not given.")
	}
	key := refundKey(r.ID)
	re, made, err := s.Refunds.KeyedRefund(ctx, rr.PaymentID, key)
	if err != nil {
		return out, fmt.Errorf("asking the processor about refunds of %s: %w; nothing was refunded or recorded, and asking again is safe", rr.PaymentID, err)
	}
	madeID := ""
	if made {
		madeID = re.ID
		rr.Amount = re.Amount.Amount // what was asked for then
	}
	if out.Preview, err = s.preview(ctx, customerID, rr, madeID); err != nil {
		return out, err
	}
	if !made {
		if re, err = s.Refunds.RefundAmount(ctx, rr.PaymentID, out.Preview.Amount.Amount, refundReason, key); err != nil {
			return out, fmt.Errorf("the processor did not refund %s of %s: %w; nothing was recorded, and asking again with the same request is safe: it cannot refund twice",
				out.Preview.Amount, rr.PaymentID, err)
		}
	}
	failpoint.Inject("support.after_refund")
	out.Refund = re
	out.Result, err = s.act(ctx, r, paidup.ActionRefund, customerID, func(tx *store.Tx) (change, error) {
		return s.recordRefund(ctx, tx, r, rr, out.Preview, re)
	})
	if err != nil || out.Repeat {
		return out, err
	}
	// Recorded as any refund is: the amount, the grant a refund in full
	// ends, the customer's email. The processor may not have confirmed
	// it yet, or paidup may not reach it now: the refund's events and the
	// reconciler record it when it does.
	out.Pending = true
	pr, err := s.Refunds.Refunds(ctx, rr.PaymentID)
	if err != nil {
		return out, nil
	}
	if _, err := s.Checkout.ApplyRefunds(ctx, pr, paidup.ByStaff, re.ID); err != nil {
		return out, nil
	}
	i := slices.IndexFunc(pr.Refunds, func(x paidup.Refund) bool { return x.ID == re.ID })
	out.Pending = i < 0 || pr.Refunds[i].Status != paidup.RefundSucceeded
	return out, nil
}

// recordRefund records, in tx, a refund asked of the processor: on the
// timeline and, asked for, the end of the grant it paid for.
func (s *Service) recordRefund(ctx context.Context, tx *store.Tx, r Request, rr RefundRequest, pv RefundPreview, re paidup.Refund) (change, error) {
	p := pv.Payment
	data := map[string]string{"payment": p.ID, "refund": re.ID, "amount": fmt.Sprint(re.Amount.Amount), "currency": re.Amount.Currency,
		"status": re.Status}
	state := "pending until the processor confirms it"
	if re.Status == paidup.RefundSucceeded {
		state = "the processor says it succeeded"
	}
	if err := tx.Append(ctx, staffEntry(r, p.CustomerID, p.CheckoutReference, paidup.EventPayment,
		fmt.Sprintf("Refund of %s of %s asked of the processor by %s%s (refund %s, %s)", re.Amount, p.Amount, r.Actor, because(r.Reason), re.ID, state),
		map[string]string{"payment": p.ID, "refund": re.ID})); err != nil {
		return change{}, err
	}
	outcome := fmt.Sprintf("Refund %s of %s of payment %s: %s.", re.ID, re.Amount, p.ID, state)
	if rr.EndGrant && pv.HasGrant {
		ended, err := tx.RevokeGrant(ctx, pv.Grant.ID, "refunded by "+r.Actor+because(r.Reason))
		if err != nil {
			return change{}, err
		}
		if ended {
			data["grant"] = pv.Grant.ID
			outcome += fmt.Sprintf(" Grant %s (%s) ended.", pv.Grant.ID, s.Policy.TierName(pv.Grant.Tier))
			if err := tx.Append(ctx, staffEntry(r, p.CustomerID, p.CheckoutReference, paidup.EventGrant,
				fmt.Sprintf("Access ended: %s, paid by the payment refunded, ended by %s", s.describeGrant(pv.Grant), r.Actor),
				map[string]string{"grant": pv.Grant.ID})); err != nil {
				return change{}, err
			}
		}
	}
	return change{target: p.ID, outcome: outcome, data: data}, nil
}
