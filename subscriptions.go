package paidup

import "time"

// Subscription is a processor's subscription as paidup mirrors it: the
// customer's subscription as support and the customer see it, with what
// paidup adds (its customer, plan, failing renewal). ProcessorSubscription
// is the processor's own view, as a Processor reports it; a sync turns one
// into this.
type Subscription struct {
	Processor  string
	ID         string
	CustomerID string
	// ProcessorCustomerID is the processor's customer it bills: whose card
	// pays.
	ProcessorCustomerID string
	PlanID              string
	Status              string // the processor's, e.g. SubscriptionActive
	PeriodStart         time.Time
	PeriodEnd           time.Time
	CancelAtPeriodEnd   bool
	// Cancellations counts the times it was set to end with its period,
	// so that each is told once.
	Cancellations int
	EndedAt       time.Time
	// FailingInvoice is the renewal whose payment failed and is not yet
	// paid, and FailingSince when it first failed; empty when none.
	FailingInvoice string
	FailingSince   time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Failing reports whether the subscription's renewal has failed and is
// unpaid.
func (s Subscription) Failing() bool { return s.FailingInvoice != "" }

// InvoiceFailed is an invoice's status, as paidup tells customers about
// it, for a renewal whose payment failed and is not paid; a paid one is
// InvoicePaid, as processors say.
const InvoiceFailed = "failed"

// Invoice is a subscription's invoice that paidup has told a customer
// about (a renewal paid, or one that failed), with paidup's reference for
// it: the one customers quote and support searches by, instead of the
// processor's id.
type Invoice struct {
	Processor      string
	ID             string // the processor's, e.g. in_…
	Reference      string // PU-XXXX-XXXX
	CustomerID     string
	SubscriptionID string
	PlanID         string
	Amount         Money
	Status         string // InvoiceFailed or InvoicePaid
	PaymentID      string // the payment that paid it, once paid
	CreatedAt      time.Time
	UpdatedAt      time.Time
}
