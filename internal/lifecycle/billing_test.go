package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/paidup/paidup"
)

// billing is a processor's billing state held in memory, for the policy
// tests: the test sets subscriptions, invoices and disputes as a processor
// would report them at each moment, and the lifecycle reads them back
// through paidup.Billing as it reads Stripe's. (The end-to-end tests run
// the real sandbox through the Stripe adapter.)
type billing struct {
	mu       sync.Mutex
	subs     map[string]paidup.ProcessorSubscription
	invoices map[string]paidup.ProcessorInvoice
	disputes map[string]paidup.ProcessorDispute
	refunds  map[string][]paidup.Refund // by payment
	// cancelled lists the subscriptions paidup cancelled, in order.
	cancelled []string
	seq       int
}

func newBilling() *billing {
	return &billing{subs: map[string]paidup.ProcessorSubscription{}, invoices: map[string]paidup.ProcessorInvoice{}, disputes: map[string]paidup.ProcessorDispute{},
		refunds: map[string][]paidup.Refund{}}
}

func (b *billing) id(prefix string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return fmt.Sprintf("%s_%03d", prefix, b.seq)
}

func (b *billing) putSub(s paidup.ProcessorSubscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[s.ID] = s
}

func (b *billing) sub(id string) paidup.ProcessorSubscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[id]
}

func (b *billing) putInvoice(in paidup.ProcessorInvoice) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.invoices[in.ID] = in
}

func (b *billing) invoice(id string) paidup.ProcessorInvoice {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.invoices[id]
}

func (b *billing) putDispute(d paidup.ProcessorDispute) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.disputes[d.ID] = d
}

// refund refunds a payment in full.
func (b *billing) refund(p paidup.ProcessorPayment) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	b.refunds[p.ID] = append(b.refunds[p.ID], paidup.Refund{ID: fmt.Sprintf("re_%03d", b.seq), PaymentID: p.ID, Amount: p.Amount,
		Status: paidup.RefundSucceeded})
}

// failRefunds fails a payment's refunds, as a processor does when the
// card can no longer take them.
func (b *billing) failRefunds(paymentID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.refunds[paymentID] {
		b.refunds[paymentID][i].Status = paidup.RefundFailed
	}
}

var errNotFound = errors.New("no such object")

func (b *billing) Name() string { return "stripe" }

func (b *billing) Subscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.subs[id]
	if !ok {
		return s, errNotFound
	}
	return s, nil
}

func (b *billing) CancelSubscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.subs[id]
	if !ok {
		return s, errNotFound
	}
	s.Status, s.CanceledAt, s.EndedAt = paidup.SubscriptionCanceled, s.CurrentPeriodStart, s.CurrentPeriodStart
	b.subs[id] = s
	b.cancelled = append(b.cancelled, id)
	return s, nil
}

func (b *billing) SetCancelAtPeriodEnd(ctx context.Context, id string, cancel bool) (paidup.ProcessorSubscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.subs[id]
	if !ok {
		return s, errNotFound
	}
	s.CancelAtPeriodEnd, s.CanceledAt = cancel, time.Time{}
	if cancel {
		s.CanceledAt = s.CurrentPeriodStart.Add(time.Hour)
	}
	b.subs[id] = s
	return s, nil
}

func (b *billing) Invoice(ctx context.Context, id string) (paidup.ProcessorInvoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	in, ok := b.invoices[id]
	if !ok {
		return in, errNotFound
	}
	return in, nil
}

func (b *billing) ListInvoices(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorInvoice) error) error {
	return errors.ErrUnsupported
}

func (b *billing) Dispute(ctx context.Context, id string) (paidup.ProcessorDispute, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.disputes[id]
	if !ok {
		return d, errNotFound
	}
	return d, nil
}

func (b *billing) ListDisputes(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorDispute) error) error {
	return errors.ErrUnsupported
}

func (b *billing) PortalURL(ctx context.Context, customerID, returnURL string) (string, error) {
	return "", errors.ErrUnsupported
}

// The purchase side is not used by the lifecycle.

func (b *billing) CreateCheckout(context.Context, paidup.CheckoutRequest) (paidup.Checkout, error) {
	return paidup.Checkout{}, errors.ErrUnsupported
}
func (b *billing) Checkout(context.Context, string) (paidup.Checkout, error) {
	return paidup.Checkout{}, errors.ErrUnsupported
}
func (b *billing) CheckoutForPayment(context.Context, string) (paidup.Checkout, error) {
	return paidup.Checkout{}, errors.ErrUnsupported
}
func (b *billing) ListCheckouts(context.Context, paidup.Created, func(paidup.Checkout) error) error {
	return errors.ErrUnsupported
}
func (b *billing) ListPayments(context.Context, paidup.Created, func(paidup.ProcessorPayment) error) error {
	return errors.ErrUnsupported
}
func (b *billing) Refunds(ctx context.Context, paymentID string) (paidup.PaymentRefunds, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return paidup.PaymentRefunds{PaymentID: paymentID, Refunds: slices.Clone(b.refunds[paymentID])}, nil
}
func (b *billing) RefundPayment(context.Context, string, string, string) (paidup.Refund, error) {
	return paidup.Refund{}, errors.ErrUnsupported
}
func (b *billing) ListRefunds(context.Context, paidup.Created, func(paidup.Refund, paidup.PaymentRefunds) error) error {
	return errors.ErrUnsupported
}
func (b *billing) ListUndeliveredEvents(context.Context, paidup.Created, func(paidup.ProcessorEvent) error) error {
	return errors.ErrUnsupported
}

var _ paidup.Processor = (*billing)(nil)

// month adds n calendar months, as a processor's monthly billing does.
func month(t time.Time, n int) time.Time { return paidup.Term{N: n, Unit: 'm'}.AddTo(t) }
