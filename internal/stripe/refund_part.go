package stripe

import (
	"context"

	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup"
)

// RefundAmount refunds amount (in the payment's minor unit) of a payment
// intent, once per key, as RefundPayment does: a retry with the same key
// gets the same refund, never a second.
func (c *Client) RefundAmount(ctx context.Context, paymentID string, amount int64, reason, key string) (paidup.Refund, error) {
	p := &stripego.RefundCreateParams{PaymentIntent: stripego.String(paymentID), Amount: stripego.Int64(amount)}
	if reason != "" {
		p.Reason = stripego.String(reason)
	}
	p.AddMetadata("paidup_refund", key)
	p.SetIdempotencyKey("paidup-refund-" + key)
	re, err := c.api.V1Refunds.Create(ctx, p)
	if err != nil {
		return paidup.Refund{}, wrap(err, "refunding %d (minor units) of %s", amount, paymentID)
	}
	return refund(re, paymentID), nil
}

// KeyedRefund finds the refund of a payment intent made under key (see
// RefundAmount), if there is one: a refund asked for whose answer was
// lost (a timeout, a crash) is found here rather than asked for again.
func (c *Client) KeyedRefund(ctx context.Context, paymentID, key string) (paidup.Refund, bool, error) {
	p := &stripego.RefundListParams{PaymentIntent: stripego.String(paymentID), ListParams: stripego.ListParams{Limit: stripego.Int64(100)}}
	for re, err := range c.api.V1Refunds.List(ctx, p) {
		if err != nil {
			return paidup.Refund{}, false, wrap(err, "listing the refunds of %s", paymentID)
		}
		if re.Metadata["paidup_refund"] == key {
			return refund(re, paymentID), true, nil
		}
	}
	return paidup.Refund{}, false, nil
}
