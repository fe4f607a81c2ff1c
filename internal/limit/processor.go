package limit

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/paidup/paidup"
)

// Budget is how many calls a second paidup may make to its processor,
// reads and writes apart, as Stripe counts them; 0 is no limit. It is
// this process's: several instances each have their own.
type Budget struct {
	ReadsPerSecond, WritesPerSecond float64
	// CustomerWait is the longest a customer's request waits for its turn
	// (see ForCustomer); past that it fails at once with ErrBusy.
	CustomerWait time.Duration
	// Waited counts the calls that waited for their turn, Refused the
	// customers' calls refused, by kind (read, write). Either may be nil.
	Waited, Refused *prometheus.CounterVec
}

// ErrBusy is a call refused, or not waited for, because the processor
// budget is spent for now.
var ErrBusy = paidup.Errorf(paidup.EUNAVAILABLE, "paidup is making as many calls to the payment processor as it may just now.")

// listPage is how many objects a listing gets per call: the adapters list
// 100 at a time, Stripe's most.
const listPage = 100

type customerKey struct{}

// ForCustomer marks ctx as a customer's request: a processor call made
// with it waits at most the budget's CustomerWait for its turn, and fails
// with ErrBusy rather than keep the customer waiting. Without the mark
// (jobs, the reconciler) a call waits for its turn as long as ctx allows.
func ForCustomer(ctx context.Context) context.Context {
	return context.WithValue(ctx, customerKey{}, true)
}

func forCustomer(ctx context.Context) bool {
	v, _ := ctx.Value(customerKey{}).(bool)
	return v
}

// Processor is a processor whose calls are held to a budget. Each method
// is written out, not embedded, so that a method added to paidup.Processor
// does not compile here until it is given its budget.
type Processor struct {
	next        paidup.Processor
	read, write *callBudget
}

var _ paidup.Processor = (*Processor)(nil)

// callBudget is one kind of call's budget.
type callBudget struct {
	kind            string
	lim             *rate.Limiter // nil: no limit
	customerWait    time.Duration
	waited, refused prometheus.Counter
}

// NewProcessor holds p's calls to b.
func NewProcessor(p paidup.Processor, b Budget) *Processor {
	return &Processor{next: p, read: newCallBudget("read", b.ReadsPerSecond, b), write: newCallBudget("write", b.WritesPerSecond, b)}
}

// newCallBudget allows perSecond calls a second, and at once no more than a
// tenth of a second's worth (at least one), so that no second sees much
// more than perSecond.
func newCallBudget(kind string, perSecond float64, b Budget) *callBudget {
	k := &callBudget{kind: kind, customerWait: b.CustomerWait}
	if perSecond > 0 {
		k.lim = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/10)))
	}
	if b.Waited != nil {
		k.waited = b.Waited.WithLabelValues(kind)
	}
	if b.Refused != nil {
		k.refused = b.Refused.WithLabelValues(kind)
	}
	return k
}

// Read waits for a read's turn, for calls made outside paidup.Processor
// (a test clock's time).
func (p *Processor) Read(ctx context.Context) error { return p.read.turn(ctx) }

// turn waits for the call's turn: a customer's for at most customerWait,
// anyone else's as long as ctx allows.
func (k *callBudget) turn(ctx context.Context) error {
	if k.lim == nil {
		return nil
	}
	now := time.Now()
	r := k.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	if forCustomer(ctx) && d > k.customerWait {
		r.CancelAt(now)
		if k.refused != nil {
			k.refused.Inc()
		}
		return fmt.Errorf("a processor %s: %w", k.kind, ErrBusy)
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(now.Add(d)) {
		r.CancelAt(now)
		return fmt.Errorf("a processor %s would wait %s, past its deadline: %w", k.kind, d.Round(time.Millisecond), ErrBusy)
	}
	if k.waited != nil {
		k.waited.Inc()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// listed runs a listing within the read budget: a turn for its first call,
// and one for each further page.
func listed[T any](ctx context.Context, k *callBudget, list func(func(T) error) error, fn func(T) error) error {
	if err := k.turn(ctx); err != nil {
		return err
	}
	n := 0
	return list(func(v T) error {
		if err := fn(v); err != nil {
			return err
		}
		// The next object is on the next page: the listing calls again.
		if n++; n%listPage == 0 {
			return k.turn(ctx)
		}
		return nil
	})
}

// Name makes no call.
func (p *Processor) Name() string { return p.next.Name() }

func (p *Processor) CreateCheckout(ctx context.Context, r paidup.CheckoutRequest) (paidup.Checkout, error) {
	if err := p.write.turn(ctx); err != nil {
		return paidup.Checkout{}, err
	}
	return p.next.CreateCheckout(ctx, r)
}

func (p *Processor) Checkout(ctx context.Context, id string) (paidup.Checkout, error) {
	if err := p.read.turn(ctx); err != nil {
		return paidup.Checkout{}, err
	}
	return p.next.Checkout(ctx, id)
}

func (p *Processor) CheckoutForPayment(ctx context.Context, paymentID string) (paidup.Checkout, error) {
	if err := p.read.turn(ctx); err != nil {
		return paidup.Checkout{}, err
	}
	return p.next.CheckoutForPayment(ctx, paymentID)
}

func (p *Processor) ListCheckouts(ctx context.Context, created paidup.Created, fn func(paidup.Checkout) error) error {
	return listed(ctx, p.read, func(f func(paidup.Checkout) error) error { return p.next.ListCheckouts(ctx, created, f) }, fn)
}

func (p *Processor) ListPayments(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorPayment) error) error {
	return listed(ctx, p.read, func(f func(paidup.ProcessorPayment) error) error { return p.next.ListPayments(ctx, created, f) }, fn)
}

func (p *Processor) Refunds(ctx context.Context, paymentID string) (paidup.PaymentRefunds, error) {
	if err := p.read.turn(ctx); err != nil {
		return paidup.PaymentRefunds{}, err
	}
	return p.next.Refunds(ctx, paymentID)
}

// refundListed is a refund as a listing gives it, with its payment's
// refunds.
type refundListed struct {
	refund   paidup.Refund
	payments paidup.PaymentRefunds
}

func (p *Processor) ListRefunds(ctx context.Context, created paidup.Created, fn func(paidup.Refund, paidup.PaymentRefunds) error) error {
	return listed(ctx, p.read,
		func(f func(refundListed) error) error {
			return p.next.ListRefunds(ctx, created, func(r paidup.Refund, pr paidup.PaymentRefunds) error { return f(refundListed{r, pr}) })
		},
		func(l refundListed) error { return fn(l.refund, l.payments) })
}

func (p *Processor) RefundPayment(ctx context.Context, paymentID, reason, key string) (paidup.Refund, error) {
	if err := p.write.turn(ctx); err != nil {
		return paidup.Refund{}, err
	}
	return p.next.RefundPayment(ctx, paymentID, reason, key)
}

func (p *Processor) ListUndeliveredEvents(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorEvent) error) error {
	return listed(ctx, p.read, func(f func(paidup.ProcessorEvent) error) error { return p.next.ListUndeliveredEvents(ctx, created, f) }, fn)
}

func (p *Processor) Subscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	if err := p.read.turn(ctx); err != nil {
		return paidup.ProcessorSubscription{}, err
	}
	return p.next.Subscription(ctx, id)
}

func (p *Processor) CancelSubscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	if err := p.write.turn(ctx); err != nil {
		return paidup.ProcessorSubscription{}, err
	}
	return p.next.CancelSubscription(ctx, id)
}

func (p *Processor) SetCancelAtPeriodEnd(ctx context.Context, id string, cancel bool) (paidup.ProcessorSubscription, error) {
	if err := p.write.turn(ctx); err != nil {
		return paidup.ProcessorSubscription{}, err
	}
	return p.next.SetCancelAtPeriodEnd(ctx, id, cancel)
}

func (p *Processor) Invoice(ctx context.Context, id string) (paidup.ProcessorInvoice, error) {
	if err := p.read.turn(ctx); err != nil {
		return paidup.ProcessorInvoice{}, err
	}
	return p.next.Invoice(ctx, id)
}

func (p *Processor) ListInvoices(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorInvoice) error) error {
	return listed(ctx, p.read, func(f func(paidup.ProcessorInvoice) error) error { return p.next.ListInvoices(ctx, created, f) }, fn)
}

func (p *Processor) Dispute(ctx context.Context, id string) (paidup.ProcessorDispute, error) {
	if err := p.read.turn(ctx); err != nil {
		return paidup.ProcessorDispute{}, err
	}
	return p.next.Dispute(ctx, id)
}

func (p *Processor) ListDisputes(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorDispute) error) error {
	return listed(ctx, p.read, func(f func(paidup.ProcessorDispute) error) error { return p.next.ListDisputes(ctx, created, f) }, fn)
}

func (p *Processor) PortalURL(ctx context.Context, customerID, returnURL string) (string, error) {
	if err := p.write.turn(ctx); err != nil {
		return "", err
	}
	return p.next.PortalURL(ctx, customerID, returnURL)
}
