package paidup

import "time"

// Timeline entry kinds.
const (
	EventWebhook     = "webhook"      // a processor event arrived
	EventCheckout    = "checkout"     // a checkout started, expired, was abandoned
	EventPayment     = "payment"      // a payment was confirmed, refunded
	EventGrant       = "grant"        // access granted, ended, revoked
	EventEmail       = "email"        // an email queued, sent, failed
	EventSupportCase = "support_case" // a case opened or resolved
	EventSignIn      = "sign_in"      // the customer signed in
	EventReconciler  = "reconciler"   // the reconciler found or repaired something
	// Kinds of the subscription lifecycle.
	EventSubscription = "subscription" // a subscription started, renewed, failed, ended
	EventBlock        = "block"        // a customer blocked, or a block lifted
	EventDispute      = "dispute"      // a chargeback opened or closed
)

// Sources of timeline entries: who or what established the fact.
const (
	ByWebhook    = "webhook"
	ByReturnPage = "return_page"
	ByReconciler = "reconciler"
	BySystem     = "system"
	ByCustomer   = "customer"
	ByStaff      = "staff" // a person, named in the entry's data
)

// TimelineEntry is one fact about a customer: a Kind (EventPayment, …)
// established by a Source (ByWebhook, …). Data holds the ids involved.
// Nothing edits an entry once written.
type TimelineEntry struct {
	ID         int64
	CustomerID string
	Reference  string
	At         time.Time
	Kind       string
	Source     string
	Summary    string
	Data       map[string]string
}
