// Package standing is what paidup tells a customer about a purchase, in one
// place: from the plan and what is true of the purchase now (its grant, its
// payment, its subscription, a block), the plan's kind, the purchase's
// state, and what paidup will do next and when. The status page and the
// emails render its sentences, so that each says what is true when it is
// read, not what was true at checkout.
package standing

import (
	"time"

	"github.com/paidup/paidup"
)

// Kind is the kind of a plan, as a customer would put it.
type Kind string

// Plan kinds.
const (
	ForGood Kind = "for_good" // one-time, permanent
	ForTerm Kind = "for_term" // one-time, for a term
	Monthly Kind = "monthly"  // renews every month
	Yearly  Kind = "yearly"   // renews every year
)

// Kinds are every plan kind.
var Kinds = []Kind{ForGood, ForTerm, Monthly, Yearly}

// KindOf is a plan's kind.
func KindOf(p paidup.Plan) Kind {
	switch {
	case p.Interval == paidup.Monthly:
		return Monthly
	case p.Interval == paidup.Yearly:
		return Yearly
	case !p.Term.IsZero():
		return ForTerm
	}
	return ForGood
}

// Renews reports whether plans of the kind are charged again.
func (k Kind) Renews() bool { return k == Monthly || k == Yearly }

// State is how a purchase stands.
type State string

// Purchase states.
const (
	Confirming     State = "confirming"      // paid or maybe paid; not confirmed yet
	In             State = "in"              // a one-time purchase's access is granted
	Renewing       State = "renewing"        // a subscription is paid and renews
	CancelledUntil State = "cancelled_until" // a subscription is cancelled; access lasts to its period's end
	InGrace        State = "in_grace"        // a renewal failed; access lasts through the grace
	Ended          State = "ended"           // the access it gave has ended
	Refunded       State = "refunded"        // the payment was refunded in full
	OnHold         State = "on_hold"         // a block holds the customer's access
	NeedsPerson    State = "needs_person"    // paid, but a person must settle it
)

// States are every state.
var States = []State{Confirming, In, Renewing, CancelledUntil, InGrace, Ended, Refunded, OnHold, NeedsPerson}

// Applies reports whether a purchase of kind k can be in state s.
func Applies(k Kind, s State) bool {
	switch s {
	case In:
		return !k.Renews()
	case Renewing, CancelledUntil, InGrace:
		return k.Renews()
	}
	return true
}

// Standing is what a customer is told about a purchase.
type Standing struct {
	Kind  Kind
	State State
	// Tier is the name of the tier the purchase gives.
	Tier string
	// Amount is what the plan charges each time.
	Amount paidup.Money
	// Until is when the access ends if nothing changes: a term's end, a
	// cancelled subscription's period end, a grace's end. Zero for good,
	// and while a subscription renews.
	Until time.Time
	// Renews is when a renewing plan is charged next.
	Renews time.Time
	// EndedAt is when the access ended, if known.
	EndedAt time.Time
	// ReplyWithin is how soon a person answers: "one business day".
	ReplyWithin string
}

// Subscription is what a renewing purchase's subscription says now.
type Subscription struct {
	Ended             bool
	EndedAt           time.Time
	PeriodEnd         time.Time
	CancelAtPeriodEnd bool
	Failing           bool
	GraceEnds         time.Time // zero when unknown
}

// Facts are what is true of a purchase now.
type Facts struct {
	Plan     paidup.Plan
	TierName string
	// Granted is whether the purchase's grant exists, and Grant it.
	Granted bool
	Grant   paidup.Grant
	// Refunded: the payment was refunded in full.
	Refunded bool
	// Blocked: a block holds the customer's access.
	Blocked bool
	// Subscription is a renewing purchase's subscription; nil when it is
	// not mirrored yet.
	Subscription *Subscription
	// PeriodEnd is the end of the paid period when no subscription is
	// mirrored: a first payment's.
	PeriodEnd   time.Time
	ReplyWithin string
	Now         time.Time
}

// Of is how a purchase stands, from what is true of it now. A purchase
// without its grant is confirming: a caller that knows a person must
// settle it says NeedsPerson itself.
func Of(f Facts) Standing {
	s := Standing{Kind: KindOf(f.Plan), Tier: f.TierName, Amount: f.Plan.Amount, ReplyWithin: f.ReplyWithin}
	if s.Tier == "" {
		s.Tier = f.Plan.Name
	}
	g := f.Grant
	switch {
	case f.Refunded:
		s.State = Refunded
		return s
	case f.Blocked:
		s.State = OnHold
		return s
	case !f.Granted:
		s.State = Confirming
		return s
	case !g.Revoked.IsZero() && !f.Now.Before(g.Revoked):
		s.State, s.EndedAt = Ended, g.Revoked
		return s
	}
	if !s.Kind.Renews() {
		s.State, s.Until = In, g.End
		if !g.End.IsZero() && !f.Now.Before(g.End) {
			s.State, s.Until, s.EndedAt = Ended, time.Time{}, g.End
		}
		return s
	}
	sub := f.Subscription
	if sub == nil {
		sub = &Subscription{PeriodEnd: f.PeriodEnd}
	}
	switch {
	case sub.Ended:
		s.State, s.EndedAt = Ended, sub.EndedAt
	case sub.Failing:
		s.State, s.Until = InGrace, sub.GraceEnds
		if s.Until.IsZero() {
			s.Until = g.End
		}
	case sub.CancelAtPeriodEnd:
		s.State, s.Until = CancelledUntil, sub.PeriodEnd
	default:
		s.State, s.Renews = Renewing, sub.PeriodEnd
	}
	return s
}

// Day writes a date for people: "3 December 2027".
func Day(t time.Time) string { return t.UTC().Format("2 January 2006") }

// Access says what the purchase gives, after "You now have" or "What you
// have:": "Pro, for good", "Pro, until 3 December 2027", "Pro, renewing
// on 3 January 2027".
func (s Standing) Access() string {
	switch {
	case s.State == Renewing && !s.Renews.IsZero():
		return s.Tier + ", renewing on " + Day(s.Renews)
	case s.State == Renewing:
		return s.Tier + ", renewing " + s.every()
	case !s.Until.IsZero():
		return s.Tier + ", until " + Day(s.Until)
	case s.Kind == ForGood && s.State == In:
		return s.Tier + ", for good"
	}
	return s.Tier
}

func (s Standing) every() string {
	if s.Kind == Yearly {
		return "every year"
	}
	return "every month"
}

// Next says what paidup will do next and when: whether and when the
// customer is charged again, when their access ends, who will write.
func (s Standing) Next() string {
	switch s.State {
	case Confirming:
		return "We're confirming your payment. Please don't pay again: if your bank shows a charge, we'll use it."
	case In:
		if s.Kind == ForTerm && !s.Until.IsZero() {
			return "This was a one-time payment: you will not be charged again for this purchase. Your access ends on " + Day(s.Until) + "; it does not renew by itself."
		}
		return "This was a one-time payment: you will not be charged again for this purchase, and your access does not end."
	case Renewing:
		when := "at the end of each period"
		if !s.Renews.IsZero() {
			when = "on " + Day(s.Renews)
		}
		return "Your plan renews " + when + ": " + s.Amount.String() + " is charged to your card then, and " + s.every() +
			" after that, until you cancel. You can cancel any time from your account page, and keep your access to the end of the period you paid for."
	case CancelledUntil:
		return "Your plan is cancelled: you will not be charged again, and you keep your access until " + Day(s.Until) + "."
	case InGrace:
		return "Your last renewal did not go through. You keep your access until " + Day(s.Until) +
			" while your card is tried again; update your card from your account page to keep it after that."
	case Ended:
		if !s.EndedAt.IsZero() {
			return "The access this purchase gave ended on " + Day(s.EndedAt) + "."
		}
		return "The access this purchase gave has ended."
	case Refunded:
		return "This payment was refunded in full: it gives no access now, and nothing more will be charged for it. Refunds take a few days to show on a bank statement."
	case OnHold:
		// True of a chargeback's hold and of a person's block alike: a
		// person lifts either.
		return "Your access is on hold until a person on our team has looked into your account. To talk to us about it, write to us and mention your reference."
	case NeedsPerson:
		return "A person is looking at it and will write to you within " + s.replyWithin() + ". You will not be charged again — please don't pay again."
	}
	return ""
}

func (s Standing) replyWithin() string {
	if s.ReplyWithin == "" {
		return "one business day"
	}
	return s.ReplyWithin
}

// Brief is Next for a visitor with only the reference: no amount, no
// dates.
func (s Standing) Brief() string {
	switch s.State {
	case In:
		return "This was a one-time payment: you will not be charged again for this purchase."
	case Renewing:
		return "This plan renews until it is cancelled; the email has when, and how to cancel."
	case CancelledUntil:
		return "This plan is cancelled: you will not be charged again, and the access lasts to the end of the period paid for."
	case InGrace:
		return "The last renewal did not go through; the email says what to do to keep the access."
	}
	return s.Next()
}
