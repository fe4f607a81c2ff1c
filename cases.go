package paidup

import (
	"strings"
	"time"
)

// Support case kinds: what paidup could not repair by itself.
const (
	CaseUnknownPlan    = "unknown_plan"     // paid for a price no plan sells
	CaseAmountMismatch = "amount_mismatch"  // paid a different amount than the plan costs
	CaseBlockedPayer   = "blocked_payer"    // a blocked customer paid
	CaseUnconfirmed    = "unconfirmed"      // the processor never said how a checkout ended
	CaseEmailFailed    = "email_failed"     // an email could not be delivered
	CaseWebhookRefusal = "webhook_refusals" // many webhooks failed verification
	CaseRequestsLimit  = "requests_limited" // many requests refused by the limits
	CaseRefundFailed   = "refund_failed"    // a refund failed at the processor: the customer was not refunded
	CaseMissingObject  = "missing_object"   // an event that matters names an object the processor does not have
	// CaseForeignReference: a paid processor checkout named the
	// reference of a checkout attempt it does not belong to (a payment
	// link's client_reference_id, another integration's session).
	CaseForeignReference = "foreign_reference"
	// CaseDuplicateCustomer: two customers turned out to have one address
	// when their stored addresses were normalised anew; a person merges
	// them.
	CaseDuplicateCustomer = "duplicate_customer"
)

// Case statuses.
const (
	CaseOpen     = "open"
	CaseResolved = "resolved"
)

// States of an open case in the inbox, besides CaseOpen.
const (
	CaseSnoozed = "snoozed" // put aside until a time
	CaseWaiting = "waiting" // a person answered; it waits on the customer
)

// SupportCase is something paidup could not repair by itself, for a
// person: a Kind (CaseUnknownPlan, …), CaseOpen until resolved. One exists
// per DedupeKey.
type SupportCase struct {
	ID         string
	DedupeKey  string
	CustomerID string
	Reference  string
	PaymentID  string
	Kind       string
	Summary    string
	Status     string
	CreatedAt  time.Time
	ResolvedAt time.Time
	// Stake is the money the case is about: its payment's, else its
	// checkout's, invoice's or chargeback's; zero for none.
	Stake Money
	// Assignee is the person working on it, so that the other does not
	// answer too; empty for no one.
	Assignee string
	// SnoozedUntil puts an open case aside until then; WaitingSince is
	// when it began waiting on the customer's answer. Zero for neither.
	SnoozedUntil, WaitingSince time.Time
	// Follows is the resolved case whose thread this one carries on (a
	// CaseFollowUp); empty for none.
	Follows string
}

// State is where an open case stands at now: CaseSnoozed while snoozed,
// CaseWaiting while it waits on the customer, else CaseOpen; CaseResolved
// once resolved.
func (c SupportCase) State(now time.Time) string {
	switch {
	case c.Status != CaseOpen:
		return c.Status
	case now.Before(c.SnoozedUntil):
		return CaseSnoozed
	case !c.WaitingSince.IsZero():
		return CaseWaiting
	}
	return CaseOpen
}

// CaseGroup is the open cases of one kind, which usually share a cause (a
// processor outage leaves several payments unconfirmed, a mail outage
// several emails undelivered).
type CaseGroup struct {
	Kind   string
	Count  int
	Oldest time.Time
	// Stakes is the money at stake, per currency.
	Stakes []Money
}

// Support case kinds of the subscription lifecycle.
const (
	CaseDispute      = "dispute"                // a chargeback
	CaseDoubleBuy    = "double_buy"             // a failing subscription beside a new one
	CaseDuplicateSub = "duplicate_subscription" // two active subscriptions to one tier
	CaseCancelFailed = "cancel_failed"          // a subscription paidup meant to cancel could not be
)

// Duplicate purchases a person settles.
const (
	// CaseDuplicatePurchase: a customer paid for a one-time plan whose
	// tier they already held, and the policy leaves it to a person; the
	// purchase waits on them, with no access granted.
	CaseDuplicatePurchase = "duplicate_purchase"
	// CaseOverlappingSubscription: a customer subscribed while holding the
	// subscription's tier; granted, and a person decides which to keep.
	CaseOverlappingSubscription = "overlapping_subscription"
)

// CaseHelpRequest: someone wrote in through the help form ("I was charged
// but have no access") and paidup found no access to turn on for them.
const CaseHelpRequest = "help_request"

// EmailFailedKey is the dedupe key of the case of an email that could not
// be delivered: one case an email.
func EmailFailedKey(emailID string) string { return "email:" + emailID }

// FailedEmail is the email an email_failed case is about.
func FailedEmail(c SupportCase) (string, bool) {
	if c.Kind != CaseEmailFailed {
		return "", false
	}
	return strings.CutPrefix(c.DedupeKey, "email:")
}

// HelpRequestKey is the dedupe key of the help request case of an address
// on a day: one case a day per address.
func HelpRequestKey(email string, day time.Time) string {
	return "help:" + email + ":" + day.Format("2006-01-02")
}

// HelpRequestEmail is the address a help request case was opened for, read
// from its dedupe key: someone paidup may know nothing else of.
func HelpRequestEmail(c SupportCase) (string, bool) {
	if c.Kind != CaseHelpRequest {
		return "", false
	}
	rest, ok := strings.CutPrefix(c.DedupeKey, "help:")
	i := strings.LastIndex(rest, ":")
	if !ok || i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// Support case kinds of the customers' answers to replies.
const (
	// CaseFollowUp: a customer answered a case after it was resolved.
	// The resolved case stays as it was decided; this one carries its
	// thread on, and their later answers come to it.
	CaseFollowUp = "follow_up"
	// CaseUnmatchedAnswer: mail reached a case's reply address from an
	// address that is not its customer's. It was not taken into the
	// thread: a person looks at who wrote.
	CaseUnmatchedAnswer = "unmatched_answer"
)

// Directions of a case's messages.
const (
	MessageOut = "out" // a person's reply to the customer
	MessageIn  = "in"  // the customer's answer
)

// How a case's message travelled.
const (
	ViaEmail = "email"
	ViaWeb   = "web" // the reply page a reply links to
)

// CaseMessage is one message of a support case's thread: a person's
// reply to the customer (MessageOut, written when it is queued) or the
// customer's answer (MessageIn, written when it arrives), by email or on
// the web. Nothing edits a message once written.
type CaseMessage struct {
	ID        string
	CaseID    string
	Direction string
	Via       string
	From, To  string
	Subject   string
	Text      string
	// MessageID takes each message once: an emailed answer's
	// Message-ID, a web answer's form id, a reply's email id.
	MessageID string
	// EmailID is a reply's email, and Actor the person who sent it.
	EmailID, Actor string
	At             time.Time
	// Delivery is a reply's email status as it is read (queued, sent,
	// failed); empty for an answer.
	Delivery string
}
