package paidup

import "time"

// Staff actions, as the audit log names them.
const (
	ActionRecover  = "recover"
	ActionResend   = "resend"
	ActionRefund   = "refund"
	ActionGrant    = "grant"
	ActionEndGrant = "end_grant"
	ActionBlock    = "block"
	ActionLift     = "lift"
	ActionNote     = "note"
	ActionReply    = "reply"   // a reply to a case's customer
	ActionResolve  = "resolve" // a case resolved
	ActionTriage   = "triage"  // a case taken, marked waiting, or snoozed
	// ActionOverride puts a person on call instead of the rotation;
	// ActionEndOverride removes that.
	ActionOverride    = "oncall_override"
	ActionEndOverride = "oncall_end_override"
)

// AuditEntry is one action a person took on a customer: who, when, what,
// on what, why they said, and what came of it. The audit log is
// append-only: nothing edits or removes an entry.
type AuditEntry struct {
	ID        int64
	RequestID string // the request the action answered; each counts once
	At        time.Time
	Actor     string
	Action    string // ActionRefund, ActionGrant, …
	// CustomerID is the customer acted on; empty when paidup knows no
	// customer yet (a recovery by a reference that found nothing).
	CustomerID string
	Target     string // what the action was on: a payment, a grant, an email
	Reason     string
	Outcome    string // what came of it, in words for people
	Data       map[string]string
}
