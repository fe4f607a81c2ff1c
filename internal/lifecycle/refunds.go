package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
)

// refundReader is a processor that reads a payment's refunds, as Stripe's
// adapter does.
type refundReader interface {
	Refunds(ctx context.Context, paymentID string) (paidup.PaymentRefunds, error)
}

// earlyRefunds reads from the processor the refunds of the paid invoices'
// payments that were refunded before paidup recorded them (a renewal
// refunded while its own events were on their way): they are told to the
// customer when the sync records the payment. Read before the sync's
// transaction, so that no processor call holds it open.
func (s *Service) earlyRefunds(ctx context.Context, invoices []paidup.ProcessorInvoice) (map[string][]paidup.Refund, error) {
	rr, ok := s.Processor.(refundReader)
	if !ok {
		return nil, nil
	}
	out := map[string][]paidup.Refund{}
	for _, in := range invoices {
		if in.Status != paidup.InvoicePaid || in.PaymentID == "" {
			continue
		}
		n, err := s.Store.EarlyRefund(ctx, s.Processor.Name(), in.PaymentID)
		if err != nil || n == 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		pr, err := rr.Refunds(ctx, in.PaymentID)
		if err != nil {
			return nil, fmt.Errorf("reading the refunds of %s: %w", in.PaymentID, err)
		}
		out[in.PaymentID] = pr.Refunds
	}
	return out, nil
}

// errRefundedSinceRead: a refund of a paid invoice's payment was recorded
// after the sync read the refunds of its payments, so the sync cannot
// tell it; the sync reads again.
var errRefundedSinceRead = errors.New("a refund was recorded since the sync read its payments' refunds")

// tellEarlyRefund tells the customer, once per refund, of the refunds of
// in's payment made before paidup recorded it, with their access as it
// stands: full says the payment was refunded in full, and so granted
// nothing. It runs in the transaction that records the refund, by the same
// key as any refund's email, so that a refund event read later tells
// nothing twice.
func (c *change) tellEarlyRefund(in paidup.ProcessorInvoice, full bool) error {
	refunds, read := c.early[in.PaymentID]
	switch {
	case c.early == nil:
		return nil // a processor whose refunds cannot be read: none to tell
	case !read:
		// Recorded by the refund's own event after the sync read the
		// refunds: that event found no payment to tell of, so the sync
		// must, and reads again.
		return errRefundedSinceRead
	}
	p, found, err := c.tx.PaymentForUpdate(c.ctx, c.s.Processor.Name(), in.PaymentID)
	if err != nil || !found {
		return err
	}
	grants, err := c.tx.Grants(c.ctx, c.customerID)
	if err != nil {
		return err
	}
	blocks, err := c.tx.Blocks(c.ctx, c.customerID)
	if err != nil {
		return err
	}
	n := checkout.RefundNotice{CustomerID: c.customerID, Email: c.customerEmail(), Processor: p.Processor, Payment: p,
		Tier: c.plan.Tier, Full: full, Ungranted: full, Access: c.s.Policy.AccessAt(grants, blocks, c.tx.Now())}
	for _, re := range refunds {
		if re.Status != paidup.RefundSucceeded {
			continue
		}
		n.Refund = re
		if err := c.s.Notify.QueueRefundIssued(c.ctx, c.tx, n); err != nil {
			return err
		}
	}
	return nil
}
