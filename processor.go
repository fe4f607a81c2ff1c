package paidup

import (
	"context"
	"time"
)

// Checkout statuses, as processors report a hosted checkout.
const (
	CheckoutOpen     = "open"
	CheckoutComplete = "complete"
	CheckoutExpired  = "expired"
)

// Checkout is a processor's hosted checkout (a Stripe Checkout Session) as
// paidup sees it.
type Checkout struct {
	ID        string // the processor's id, e.g. cs_test_…
	URL       string // where the customer pays; empty once closed
	Reference string // the checkout reference it carries, paidup's or not
	Status    string // CheckoutOpen, CheckoutComplete or CheckoutExpired
	Paid      bool
	// Proof is the checkout proof it carries (see CheckoutProof), if any.
	Proof string
	// CustomerID is the processor's customer, when there is one.
	CustomerID string
	Email      string
	// PaymentID is the processor's payment (a Stripe PaymentIntent); for
	// a subscription, the payment of its first invoice.
	PaymentID string
	// SubscriptionID and InvoiceID: a checkout for a recurring plan starts
	// a subscription, whose first invoice it pays.
	SubscriptionID string
	InvoiceID      string
	Amount         Money
	PriceIDs       []string
	Created        time.Time
	ExpiresAt      time.Time
	// PaidAt is when the payment succeeded; zero until paid.
	PaidAt time.Time
	// AmountRefunded is how much of the payment has been refunded: the
	// refunds that succeeded (see PaymentRefunds.Refunded).
	AmountRefunded int64
	// Refunds are the payment's refunds, each with its status: what a
	// customer is told of a refund made before paidup granted the payment.
	Refunds []Refund
}

// CheckoutRequest asks a processor for a hosted checkout.
type CheckoutRequest struct {
	// Reference is paidup's checkout reference. It travels with the
	// payment (client reference and metadata) and is the idempotency key,
	// so that asking twice gives the same checkout.
	Reference string
	// Proof travels in the checkout's metadata, so that paidup can tell
	// the checkout is its own before it has recorded its id (see
	// CheckoutProof); empty for attempts without a status token.
	Proof      string
	Plan       Plan
	Email      string
	CustomerID string // an existing processor customer, if known
	SuccessURL string // may contain {CHECKOUT_ID}, replaced by the processor's id
	CancelURL  string
	ExpiresAt  time.Time
	// StatementSuffix is what the customer's bank statement shows of a
	// one-time payment after the business's own descriptor, so that they
	// can find the purchase (e.g. its reference); empty for none.
	StatementSuffix string
}

// ProcessorPayment is a payment as the processor reports it (a Stripe
// PaymentIntent); Payment is paidup's record of one.
type ProcessorPayment struct {
	ID         string
	Reference  string // paidup's checkout reference, from its metadata
	CustomerID string
	Amount     Money
	Succeeded  bool
	Created    time.Time
}

// Refund statuses, as processors report a refund. A refund counts only
// once it has succeeded; one that succeeded may still fail later (the
// card was closed, say), and the money goes back to the merchant.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
	RefundCanceled  = "canceled"
)

// RefundDuplicate is the reason paidup gives the processor for refunding
// a duplicate purchase.
const RefundDuplicate = "duplicate"

// Refund is a processor's refund of (part of) a payment.
type Refund struct {
	ID        string
	PaymentID string
	Amount    Money
	Status    string // RefundSucceeded, RefundFailed, …
	// FailureReason says why a failed refund failed, in the processor's
	// words (e.g. expired_or_canceled_card); empty otherwise.
	FailureReason string
	Created       time.Time
}

// PaymentRefunds is a payment's refunds as the processor has them now.
type PaymentRefunds struct {
	PaymentID string
	Amount    Money // the payment's amount
	Refunds   []Refund
}

// Refunded is how much of the payment is refunded: the sum of the refunds
// that succeeded. Pending, failed and canceled refunds give nothing back.
func (p PaymentRefunds) Refunded() int64 {
	var n int64
	for _, r := range p.Refunds {
		if r.Status == RefundSucceeded {
			n += r.Amount.Amount
		}
	}
	return n
}

// Failed lists the payment's refunds that failed.
func (p PaymentRefunds) Failed() []Refund {
	var out []Refund
	for _, r := range p.Refunds {
		if r.Status == RefundFailed {
			out = append(out, r)
		}
	}
	return out
}

// ErrNoSuchObject is what a Processor's errors wrap when the processor has
// no such object (Stripe answers 404): a permanent answer, not a failure to
// try again.
var ErrNoSuchObject = Errorf(ENOTFOUND, "The payment processor has no such object.")

// ProcessorEvent is an event read back from the processor's API rather than
// received by webhook.
type ProcessorEvent struct {
	ID         string
	Type       string
	Created    time.Time
	ObjectType string
	ObjectID   string
	Payload    []byte // the event as JSON
}

// Created is a range of creation times, for listing: at or after Since,
// and, unless Until is zero, at or before Until.
type Created struct {
	Since, Until time.Time
}

// Processor is a payment processor, as paidup uses it.
type Processor interface {
	// Name is the processor's name in paidup's records, e.g. "stripe".
	Name() string
	CreateCheckout(ctx context.Context, r CheckoutRequest) (Checkout, error)
	Checkout(ctx context.Context, id string) (Checkout, error)
	// CheckoutForPayment finds the checkout a payment was made through.
	CheckoutForPayment(ctx context.Context, paymentID string) (Checkout, error)
	// ListCheckouts calls fn for each checkout created in the range (see
	// Created), newest first, until fn returns an error. A listed checkout
	// may lack what only a full read gives (PriceIDs, AmountRefunded):
	// read it with Checkout before acting on it.
	ListCheckouts(ctx context.Context, created Created, fn func(Checkout) error) error
	// ListPayments calls fn for each payment created in the range.
	ListPayments(ctx context.Context, created Created, fn func(ProcessorPayment) error) error
	// Refunds reads a payment's refunds, each with its status.
	Refunds(ctx context.Context, paymentID string) (PaymentRefunds, error)
	// RefundPayment refunds what is left of a payment, once per key: asking
	// again with the same key (a retry after a crash) gives the same
	// refund, never a second. reason says why, in the processor's words
	// (RefundDuplicate).
	RefundPayment(ctx context.Context, paymentID, reason, key string) (Refund, error)
	// ListRefunds calls fn for each refund created in the range, with all
	// the refunds of its payment as they stand.
	ListRefunds(ctx context.Context, created Created, fn func(Refund, PaymentRefunds) error) error
	// ListUndeliveredEvents calls fn for each event created in the range
	// that the processor has not yet delivered to every endpoint.
	ListUndeliveredEvents(ctx context.Context, created Created, fn func(ProcessorEvent) error) error
	Billing
}

// Subscription statuses, as processors report a subscription.
const (
	SubscriptionIncomplete = "incomplete"
	SubscriptionTrialing   = "trialing"
	SubscriptionActive     = "active"
	SubscriptionPastDue    = "past_due"
	SubscriptionUnpaid     = "unpaid"
	SubscriptionCanceled   = "canceled"
	SubscriptionPaused     = "paused"
)

// ProcessorSubscription is a processor's recurring billing of a customer,
// as the processor reports it (a Stripe Subscription); Subscription is
// paidup's mirror of one.
type ProcessorSubscription struct {
	ID         string // e.g. sub_…
	CustomerID string
	Status     string // SubscriptionActive, SubscriptionPastDue, …
	PriceIDs   []string
	// Reference is paidup's checkout reference the subscription was
	// bought through, from its metadata; empty if not bought through paidup.
	Reference string
	// The period paid (or being charged) for.
	CurrentPeriodStart, CurrentPeriodEnd time.Time
	// CancelAtPeriodEnd: the subscription ends at CurrentPeriodEnd.
	CancelAtPeriodEnd bool
	CanceledAt        time.Time // when it was cancelled; zero if not
	EndedAt           time.Time // when it ended; zero while it runs
	LatestInvoiceID   string
	Created           time.Time
}

// Invoice statuses.
const (
	InvoiceDraft         = "draft"
	InvoiceOpen          = "open"
	InvoicePaid          = "paid"
	InvoiceUncollectible = "uncollectible"
	InvoiceVoid          = "void"
)

// Invoice reasons that matter to paidup.
const (
	InvoiceForSubscriptionCreate = "subscription_create" // the first payment
	InvoiceForSubscriptionCycle  = "subscription_cycle"  // a renewal
)

// ProcessorInvoice is a processor's bill for a subscription period, as
// the processor reports it (a Stripe Invoice); Invoice is paidup's record
// of one it told a customer about.
type ProcessorInvoice struct {
	ID             string // e.g. in_…
	CustomerID     string
	CustomerEmail  string
	SubscriptionID string
	Status         string // InvoiceOpen, InvoicePaid, …
	BillingReason  string // InvoiceForSubscriptionCycle, …
	// PaymentID is the payment that paid it (a Stripe PaymentIntent);
	// empty until paid.
	PaymentID string
	Amount    Money // the amount due
	PriceIDs  []string
	// The subscription period the invoice pays for.
	PeriodStart, PeriodEnd time.Time
	PaidAt                 time.Time // zero until paid
	AttemptCount           int       // payment attempts so far
	NextAttempt            time.Time // the processor's next retry; zero if none
	Created                time.Time
}

// Dispute statuses that end a dispute.
const (
	DisputeWon  = "won"
	DisputeLost = "lost"
)

// ProcessorDispute is a chargeback, the customer's bank taking a payment
// back, as the processor reports it; Dispute is paidup's mirror of one.
type ProcessorDispute struct {
	ID         string // e.g. dp_…
	ChargeID   string
	PaymentID  string
	CustomerID string
	Amount     Money
	Status     string // e.g. needs_response, under_review, won, lost
	Reason     string
	Created    time.Time
}

// Billing is the recurring side of a processor: subscriptions, their
// invoices, disputes, and the page where a customer updates their card.
type Billing interface {
	Subscription(ctx context.Context, id string) (ProcessorSubscription, error)
	// CancelSubscription ends a subscription at once, without refund.
	CancelSubscription(ctx context.Context, id string) (ProcessorSubscription, error)
	// SetCancelAtPeriodEnd schedules a subscription to end with its paid
	// period (cancel true), or undoes that (cancel false): the customer's
	// own cancellation and resumption. It gives the subscription back as
	// the processor has it then.
	SetCancelAtPeriodEnd(ctx context.Context, id string, cancel bool) (ProcessorSubscription, error)
	Invoice(ctx context.Context, id string) (ProcessorInvoice, error)
	// ListInvoices calls fn for each invoice created in the range.
	ListInvoices(ctx context.Context, created Created, fn func(ProcessorInvoice) error) error
	Dispute(ctx context.Context, id string) (ProcessorDispute, error)
	// ListDisputes calls fn for each dispute created in the range.
	ListDisputes(ctx context.Context, created Created, fn func(ProcessorDispute) error) error
	// PortalURL opens a session of the processor's customer portal, where
	// the customer updates their card, and returns its address; the
	// customer comes back to returnURL.
	PortalURL(ctx context.Context, customerID, returnURL string) (string, error)
}
