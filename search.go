package paidup

import "strings"

// SearchHit is a customer that support's search found, with what of
// theirs matched. A checkout that has no customer yet (a payment not yet
// fulfilled, a checkout abandoned) is a hit of its own, with no
// CustomerID and the email the checkout was started with.
type SearchHit struct {
	CustomerID string // paidup's id, e.g. cu_…; "" for a checkout with no customer
	Email      string
	// Reference is, for a hit with no customer, the checkout's reference
	// (PU-…), whose timeline tells what is known of it.
	Reference string
	Matches   []SearchMatch
}

// SearchResults are a search's hits, best first. More says that more
// matched than are shown: the person should type more of what they know.
type SearchResults struct {
	Hits []SearchHit
	More bool
}

// What a search matched.
const (
	MatchEmail             = "email"
	MatchCustomer          = "customer"           // paidup's customer id
	MatchProcessorCustomer = "processor customer" // cus_…
	MatchCheckout          = "checkout"           // a checkout attempt, by PU-… or cs_…
	MatchPayment           = "payment"            // pi_…
	MatchCharge            = "charge"             // ch_…, known from a dispute
	MatchInvoice           = "invoice"            // in_… or its PU-…
	MatchSubscription      = "subscription"       // sub_…
	MatchDispute           = "dispute"            // dp_… or its PU-…
	MatchRefund            = "refund"             // re_… or its PU-…
	MatchCase              = "case"               // a support case, sc_…
)

// SearchMatch is one thing of a customer's that matched: Kind, the id or
// email that matched, and the ids a person would quote beside it (a
// payment's checkout reference, a checkout's payment).
type SearchMatch struct {
	Kind    string
	ID      string
	Related []string
}

// String reads as support would say it: "payment pi_… · PU-…".
func (m SearchMatch) String() string {
	parts := append([]string{m.Kind + " " + m.ID}, m.Related...)
	return strings.Join(parts, " · ")
}
