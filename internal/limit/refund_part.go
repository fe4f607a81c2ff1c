package limit

import (
	"context"

	"github.com/paidup/paidup"
)

// partRefunder is a processor that refunds part of a payment under a key,
// and finds a refund by its key: the Stripe adapter.
type partRefunder interface {
	RefundAmount(ctx context.Context, paymentID string, amount int64, reason, key string) (paidup.Refund, error)
	KeyedRefund(ctx context.Context, paymentID, key string) (paidup.Refund, bool, error)
}

// errNoPartRefunds: the processor behind the budget refunds only what is
// left of a payment.
var errNoPartRefunds = paidup.Errorf(paidup.EUNAVAILABLE, "The payment processor cannot refund part of a payment.")

// RefundAmount refunds amount of a payment, a write of the budget's.
func (p *Processor) RefundAmount(ctx context.Context, paymentID string, amount int64, reason, key string) (paidup.Refund, error) {
	r, ok := p.next.(partRefunder)
	if !ok {
		return paidup.Refund{}, errNoPartRefunds
	}
	if err := p.write.turn(ctx); err != nil {
		return paidup.Refund{}, err
	}
	return r.RefundAmount(ctx, paymentID, amount, reason, key)
}

// KeyedRefund finds a payment's refund made under key, a read of the
// budget's.
func (p *Processor) KeyedRefund(ctx context.Context, paymentID, key string) (paidup.Refund, bool, error) {
	r, ok := p.next.(partRefunder)
	if !ok {
		return paidup.Refund{}, false, errNoPartRefunds
	}
	if err := p.read.turn(ctx); err != nil {
		return paidup.Refund{}, false, err
	}
	return r.KeyedRefund(ctx, paymentID, key)
}
