// Package support is every action a person takes on a customer: recover
// them against the processor, resend an email, refund a payment (with a
// preview first), grant a tier until a date, end a grant, block them or
// lift their blocks, add a note. The command line and the console both
// call it, so that an action means the same wherever it is taken from.
//
// Each action is asked for by a Request: who asks, why, and a request id.
// The action is taken once per request id: asked again (a double click, a
// command run twice, a retry after a timeout), it changes nothing and says
// what the first time did. Each action goes on the customer's timeline
// and in the audit log, in the transaction of what it changed.
package support

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/store"
)

// EventNote is the timeline kind of a person's note about a customer.
const EventNote = "note"

// Refunder is what a refund asks of the payment processor. The Stripe
// adapter is one.
type Refunder interface {
	Name() string
	// Refunds reads a payment's refunds, each with its status.
	Refunds(ctx context.Context, paymentID string) (paidup.PaymentRefunds, error)
	// RefundAmount refunds amount of a payment, once per key.
	RefundAmount(ctx context.Context, paymentID string, amount int64, reason, key string) (paidup.Refund, error)
	// KeyedRefund finds the refund of a payment made under key, if any.
	KeyedRefund(ctx context.Context, paymentID, key string) (paidup.Refund, bool, error)
}

// Service takes the actions. Block, lift, grant, end a grant, note and
// resend need only the Store, Policy, Notify and Lifecycle; a refund
// needs Refunds and Checkout too, and a recovery the Reconciler.
type Service struct {
	Store  *store.Store
	Policy *paidup.Policy
	Notify *notify.Outbox
	// Lifecycle blocks and lifts blocks, as the lifecycle policy says.
	Lifecycle *lifecycle.Service
	// Checkout records refunds as any refund is recorded.
	Checkout *checkout.Service
	// Reconciler asks the processor about a customer now.
	Reconciler *reconcile.Reconciler
	Refunds    Refunder
	// Replies are the reply templates, and ReplyFields the fields every
	// reply gets (the business, its support address, how soon a person
	// answers).
	Replies     *replies.Set
	ReplyFields replies.Fields
}

// Request is a person asking for an action.
type Request struct {
	// ID names the request: the action is taken once per ID. The console
	// gives each form its own; the command line derives one from what is
	// asked (see Key) unless told otherwise.
	ID     string
	Actor  string // who asks, for the record
	Reason string // why, in their words
}

// Key derives a request id from what is asked, so that asking for the
// same thing again is the same request.
func Key(action string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(action))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return "rq_" + hex.EncodeToString(h.Sum(nil))[:32]
}

// Result is what came of a request.
type Result struct {
	// Entry is the request's audit entry: who, when, and the outcome.
	Entry paidup.AuditEntry
	// Repeat: the request had been answered before; nothing changed now,
	// and Entry is the first answer.
	Repeat bool
}

// Outcome is what came of the request, in words for people.
func (r Result) Outcome() string { return r.Entry.Outcome }

// Limits on what a person types.
const (
	maxActor  = 200
	maxReason = 2000
	maxNote   = 4000
	maxID     = 200
)

// needsReason lists the actions that are refused without a reason.
var needsReason = map[string]bool{
	paidup.ActionRefund: true, paidup.ActionGrant: true, paidup.ActionEndGrant: true,
	paidup.ActionBlock: true, paidup.ActionLift: true,
}

// check tidies the request and refuses what cannot go on the record.
func (r *Request) check(action string) error {
	r.ID, r.Actor, r.Reason = strings.TrimSpace(r.ID), strings.TrimSpace(r.Actor), strings.TrimSpace(r.Reason)
	switch {
	case r.ID == "" || len(r.ID) > maxID || !printable(r.ID, false):
		return paidup.Errorf(paidup.EINVALID, "A request needs an id of at most %d printable characters.", maxID)
	case r.Actor == "" || len(r.Actor) > maxActor || !printable(r.Actor, false):
		return paidup.Errorf(paidup.EINVALID, "Say who you are (at most %d characters, on one line): every action is on the record with who took it.", maxActor)
	case needsReason[action] && r.Reason == "":
		return paidup.Errorf(paidup.EINVALID, "Say why: a %s is on the customer's record with its reason.", strings.ReplaceAll(action, "_", " "))
	case len(r.Reason) > maxReason || !printable(r.Reason, true):
		return paidup.Errorf(paidup.EINVALID, "The reason must be at most %d characters of text.", maxReason)
	}
	return nil
}

// printable reports whether s is text without control characters (but
// for line breaks and tabs when multiline).
func printable(s string, multiline bool) bool {
	for _, c := range s {
		if unicode.IsControl(c) && !(multiline && (c == '\n' || c == '\t')) || c == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// errAnsweredMeanwhile: a request was answered by another run while this
// one was taking it.
var errAnsweredMeanwhile = errors.New("the request was answered meanwhile")

// change is what an action did in its transaction: the audit entry's
// outcome, target and data.
type change struct {
	target  string
	outcome string
	data    map[string]string
}

// act takes an action once per request: fn runs in a transaction with
// the request's audit entry, unless the request was answered before, in
// which case nothing runs and the first answer is returned.
func (s *Service) act(ctx context.Context, r Request, action, customerID string, fn func(tx *store.Tx) (change, error)) (Result, error) {
	var res Result
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		res = Result{}
		if e, found, err := tx.Audit(ctx, r.ID); err != nil {
			return err
		} else if found {
			res = Result{Entry: e, Repeat: true}
			return nil
		}
		c, err := fn(tx)
		if err != nil {
			return err
		}
		e := paidup.AuditEntry{RequestID: r.ID, At: tx.Now(), Actor: r.Actor, Action: action, CustomerID: customerID,
			Target: c.target, Reason: r.Reason, Outcome: c.outcome, Data: c.data}
		added, err := tx.AddAudit(ctx, e)
		if err != nil {
			return err
		}
		if !added {
			return errAnsweredMeanwhile
		}
		res.Entry = e
		return nil
	})
	if errors.Is(err, errAnsweredMeanwhile) {
		return s.answered(ctx, r, action, customerID)
	}
	if err != nil {
		return Result{}, err
	}
	if res.Repeat {
		return res, sameRequest(res.Entry, action, customerID)
	}
	return res, nil
}

// answered is the first answer to a request answered before.
func (s *Service) answered(ctx context.Context, r Request, action, customerID string) (Result, error) {
	e, found, err := s.Store.Audit(ctx, r.ID)
	if err != nil {
		return Result{}, err
	}
	if !found {
		return Result{}, fmt.Errorf("request %s: %w, yet it is not in the audit log", r.ID, errAnsweredMeanwhile)
	}
	return Result{Entry: e, Repeat: true}, sameRequest(e, action, customerID)
}

// sameRequest refuses a request id already used for something else.
func sameRequest(e paidup.AuditEntry, action, customerID string) error {
	if e.Action != action || (customerID != "" && e.CustomerID != customerID) {
		return paidup.Errorf(paidup.ECONFLICT, "Request %s was used for another action (%s of %s): give this one its own.", e.RequestID, e.Action, e.CustomerID)
	}
	return nil
}

// staffEntry is a timeline entry for a person's action.
func staffEntry(r Request, customerID, reference, kind, summary string, data map[string]string) paidup.TimelineEntry {
	if data == nil {
		data = map[string]string{}
	}
	data["actor"], data["request"] = r.Actor, r.ID
	return paidup.TimelineEntry{CustomerID: customerID, Reference: reference, Kind: kind, Source: paidup.ByStaff, Summary: summary, Data: data}
}

// because is the reason for the timeline: ": why", or nothing.
func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// Customer finds a customer by paidup's id (cu_…), their email address,
// or a reference of theirs (PU-…: a purchase's or a chargeback's).
func (s *Service) Customer(ctx context.Context, who string) (paidup.Customer, error) {
	who = strings.TrimSpace(who)
	if ref, ok := paidup.ParseReference(who); ok && strings.HasPrefix(strings.ToUpper(who), "PU") {
		c, err := s.Store.CustomerByReference(ctx, ref)
		if err != nil {
			return c, fmt.Errorf("no customer with reference %s: %w", ref, err)
		}
		return c, nil
	}
	if strings.Contains(who, "@") {
		email, err := paidup.NormaliseEmail(who)
		if err != nil {
			return paidup.Customer{}, err
		}
		c, err := s.Store.CustomerByEmail(ctx, email)
		if err != nil {
			return c, fmt.Errorf("no customer with email %s: %w", email, err)
		}
		return c, nil
	}
	c, err := s.Store.Customer(ctx, who)
	if err != nil {
		return c, fmt.Errorf("no customer %s: %w", who, err)
	}
	return c, nil
}

// AuditLog lists the audit log, newest first: at most limit entries
// older than the entry before (0: from the newest), of one customer or,
// with customerID empty, of everyone.
func (s *Service) AuditLog(ctx context.Context, customerID string, before int64, limit int) ([]paidup.AuditEntry, error) {
	return s.Store.AuditLog(ctx, customerID, before, limit)
}

// describeAccess writes access for people: "Pro until 1 August 2026",
// "Supporter for good", "none".
func (s *Service) describeAccess(a paidup.Access) string {
	switch {
	case a.Blocked:
		return "none (blocked)"
	case !a.Active:
		return "none"
	case a.Until.IsZero():
		return s.Policy.TierName(a.Tier) + " for good"
	}
	return s.Policy.TierName(a.Tier) + " until " + a.Until.Format("2 January 2006 15:04 MST")
}

// describeGrant writes a grant for people: "Pro until 2 January 2027".
func (s *Service) describeGrant(g paidup.Grant) string {
	return s.Policy.TierName(g.Tier) + " " + checkout.Until(g)
}
