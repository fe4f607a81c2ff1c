package paidup

import "time"

// Dispute is a chargeback as paidup mirrors it, with paidup's reference;
// ProcessorDispute is the processor's own view of one.
type Dispute struct {
	Processor  string
	ID         string // the processor's, e.g. dp_…
	PaymentID  string
	CustomerID string
	// Reference is paidup's for it, e.g. PU-7K3M-Q9XD: what the customer
	// is told and quotes, and what support looks the dispute up by.
	Reference string
	Amount    Money
	Reason    string
	Status    string
	CreatedAt time.Time // when the bank opened it
}
