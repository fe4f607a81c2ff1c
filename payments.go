package paidup

import "time"

// Payment statuses.
const (
	PaymentSucceeded = "succeeded"
	PaymentRefunded  = "refunded" // fully refunded
	// PaymentDisputed is the state of a payment with a chargeback, as
	// Payment.State and the read models give it; never a stored status.
	PaymentDisputed = "disputed"
)

// Payment is paidup's record of a processor's payment: the payments
// support sees, with their refunds and chargeback. ProcessorPayment is
// the processor's own view of one, as it reports it.
type Payment struct {
	Processor         string
	ID                string
	CustomerID        string
	CheckoutReference string
	CheckoutID        string
	PlanID            string
	Amount            Money
	AmountRefunded    int64
	Status            string
	PaidAt            time.Time
	// DisputeReference is paidup's reference of a chargeback of the
	// payment, if there is one.
	DisputeReference string
}

// State is the payment's state for people: PaymentDisputed once a
// chargeback is made of it, whatever its refunds, else its status.
func (p Payment) State() string {
	if p.DisputeReference != "" {
		return PaymentDisputed
	}
	return p.Status
}
