package stripe

import (
	"context"
	"time"

	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup"
)

// Refunds reads a payment intent's refunds: those of its charge, each with
// its status.
func (c *Client) Refunds(ctx context.Context, paymentID string) (paidup.PaymentRefunds, error) {
	p := &stripego.PaymentIntentRetrieveParams{}
	p.AddExpand("latest_charge.refunds")
	pi, err := c.api.V1PaymentIntents.Retrieve(ctx, paymentID, p)
	if err != nil {
		return paidup.PaymentRefunds{}, wrap(err, "reading the refunds of %s", paymentID)
	}
	if pi.LatestCharge == nil {
		// Never charged: nothing to refund.
		return paidup.PaymentRefunds{PaymentID: pi.ID, Amount: paidup.Money{Amount: pi.Amount, Currency: string(pi.Currency)}}, nil
	}
	return c.chargeRefunds(ctx, pi.LatestCharge)
}

// RefundPayment refunds what is left of a payment intent, once per key:
// the key is the idempotency key, so a retry gets the same refund. The
// refund carries paidup's key in its metadata, for whoever reads it in
// the dashboard.
func (c *Client) RefundPayment(ctx context.Context, paymentID, reason, key string) (paidup.Refund, error) {
	p := &stripego.RefundCreateParams{PaymentIntent: stripego.String(paymentID)}
	if reason != "" {
		p.Reason = stripego.String(reason)
	}
	p.AddMetadata("paidup_refund", key)
	p.SetIdempotencyKey("paidup-refund-" + key)
	re, err := c.api.V1Refunds.Create(ctx, p)
	if err != nil {
		return paidup.Refund{}, wrap(err, "refunding %s", paymentID)
	}
	return refund(re, paymentID), nil
}

// ListRefunds lists refunds created in the range, each with the refunds of
// its charge as they stand.
func (c *Client) ListRefunds(ctx context.Context, created paidup.Created, fn func(paidup.Refund, paidup.PaymentRefunds) error) error {
	p := &stripego.RefundListParams{
		ListParams:   stripego.ListParams{Limit: stripego.Int64(100)},
		CreatedRange: createdRange(created),
	}
	p.AddExpand("data.charge.refunds")
	for re, err := range c.api.V1Refunds.List(ctx, p) {
		if err != nil {
			return wrap(err, "listing refunds")
		}
		if re.PaymentIntent == nil || re.Charge == nil {
			continue // not a card payment paidup could have granted for
		}
		all, err := c.chargeRefunds(ctx, re.Charge)
		if err != nil {
			return err
		}
		if err := fn(refund(re, all.PaymentID), all); err != nil {
			return err
		}
	}
	return nil
}

// chargeRefunds is a charge's refunds, from those Stripe includes with it
// when expanded, or listed when there are more.
func (c *Client) chargeRefunds(ctx context.Context, ch *stripego.Charge) (paidup.PaymentRefunds, error) {
	out := refundsOf(ch)
	if ch.Refunds != nil && !ch.Refunds.HasMore {
		return out, nil
	}
	out.Refunds = nil
	p := &stripego.RefundListParams{Charge: stripego.String(ch.ID), ListParams: stripego.ListParams{Limit: stripego.Int64(100)}}
	for re, err := range c.api.V1Refunds.List(ctx, p) {
		if err != nil {
			return out, wrap(err, "listing the refunds of %s", ch.ID)
		}
		out.Refunds = append(out.Refunds, refund(re, out.PaymentID))
	}
	return out, nil
}

// refundsOf is a charge's refunds as Stripe included them with it.
func refundsOf(ch *stripego.Charge) paidup.PaymentRefunds {
	out := paidup.PaymentRefunds{Amount: paidup.Money{Amount: ch.Amount, Currency: string(ch.Currency)}}
	if ch.PaymentIntent != nil {
		out.PaymentID = ch.PaymentIntent.ID
	}
	if ch.Refunds != nil {
		for _, re := range ch.Refunds.Data {
			out.Refunds = append(out.Refunds, refund(re, out.PaymentID))
		}
	}
	return out
}

func refund(re *stripego.Refund, paymentID string) paidup.Refund {
	out := paidup.Refund{
		ID: re.ID, PaymentID: paymentID, Amount: paidup.Money{Amount: re.Amount, Currency: string(re.Currency)},
		Status: refundStatus(re.Status), FailureReason: string(re.FailureReason), Created: time.Unix(re.Created, 0).UTC(),
	}
	if re.PaymentIntent != nil {
		out.PaymentID = re.PaymentIntent.ID
	}
	return out
}

// refundStatus is a Stripe refund status in paidup's words: one waiting
// for the customer (requires_action) is pending.
func refundStatus(s stripego.RefundStatus) string {
	switch s {
	case stripego.RefundStatusSucceeded:
		return paidup.RefundSucceeded
	case stripego.RefundStatusFailed:
		return paidup.RefundFailed
	case stripego.RefundStatusCanceled:
		return paidup.RefundCanceled
	}
	return paidup.RefundPending
}
