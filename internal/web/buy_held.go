package web

import (
	"context"
	"net/http"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
)

// heldView is what the buy page tells a signed-in customer who already
// holds the tier of the plan they are looking at, and what buying it
// again would do.
type heldView struct {
	TierName string
	Until    string // "until 3 December 2027" or "for good"
	EndsOn   string // "3 December 2027"; "" when held for good
	// Extends: buying adds the plan's term after the current one, until
	// NewUntil.
	Extends  bool
	NewUntil string
	// Subscribes: the plan is a subscription, charged Price Period from
	// today, overlapping what they hold.
	Subscribes bool
	Price      string
	Period     string
	// Refunded: a second purchase is refunded automatically; otherwise a
	// person looks at it.
	Refunded bool
	// Button is the label of the button that buys anyway.
	Button string
}

// heldBy is what the signed-in customer id holds of plan's tier, if they
// hold it; with email set, only if email is that customer's (a purchase
// for another address is someone else's).
func (s *Server) heldBy(ctx context.Context, id string, plan paidup.Plan, email string) (*heldView, error) {
	if email != "" {
		cu, err := s.Store.Customer(ctx, id)
		if err != nil || cu.Email != email {
			return nil, err
		}
	}
	return s.held(ctx, id, plan)
}

func (s *Server) held(ctx context.Context, customerID string, plan paidup.Plan) (*heldView, error) {
	grants, err := s.Store.Grants(ctx, customerID)
	if err != nil {
		return nil, err
	}
	g, ok := checkout.Held(grants, plan, s.Store.Now(), "")
	if !ok {
		return nil, nil
	}
	pv := s.planView(plan)
	v := &heldView{TierName: pv.TierName, Until: checkout.Until(g), Price: pv.Price, Period: pv.Period,
		Refunded: s.Policy.Lifecycle.DuplicatePurchase != paidup.DuplicateCase}
	if !g.End.IsZero() {
		v.EndsOn = g.End.Format("2 January 2006")
	}
	switch {
	case plan.Interval.Recurring():
		v.Subscribes, v.Button = true, "Subscribe anyway"
	case plan.Extends && !g.End.IsZero():
		v.Extends = true
		v.NewUntil = "until " + plan.Term.AddTo(g.End).Format("2 January 2006")
		v.Button = "Extend for " + pv.Price
	default:
		v.Button = "Buy again anyway"
	}
	return v, nil
}

// duplicateNote is what the buy form tells every visitor about buying a
// plan whose tier they already have: the same words whoever they are.
func (s *Server) duplicateNote(plan paidup.Plan) string {
	tier := s.Policy.TierName(plan.Tier)
	switch {
	case plan.Interval.Recurring():
		return "Already have " + tier + "? Sign in first and we'll show you what a subscription would add."
	case plan.Extends:
		return "Already have " + tier + "? Buying this adds " + describeTerm(plan.Term) + " after your current access ends. Sign in first to see the dates."
	case s.Policy.Lifecycle.DuplicatePurchase == paidup.DuplicateCase:
		return "Already have " + tier + "? Buying it again adds nothing, and our team is told of a second payment. Sign in first to see what you have."
	}
	return "Already have " + tier + "? Buying it again adds nothing, and a second payment is refunded automatically. Sign in first to see what you have."
}

// addHeld sets what f says about the plan's tier: to a visitor not signed
// in, the note; to a signed-in customer who holds it (with email set,
// only if it is theirs), what they hold.
//
// Only a customer signed in (by the session cookie) hears what their own
// address holds: the buy page is public, and an address typed into it
// proves nothing about who typed it. A visitor who types an address that
// holds the plan's tier sees exactly what one who types any other address
// sees, and is sent to pay; the purchase is then refunded or flagged (see
// paidup.Lifecycle.DuplicatePurchase), and the address's owner is emailed
// what became of it. The buy form says so to every visitor, and offers
// signing in first.
func (s *Server) addHeld(r *http.Request, f *buyForm, email string) error {
	plan, _ := s.Policy.Plan(f.Plan.ID)
	id, ok := s.signedIn(r)
	if !ok {
		f.DuplicateNote = s.duplicateNote(plan)
		return nil
	}
	if f.Email == "" {
		// Their own address, for their own purchase.
		if cu, err := s.Store.Customer(r.Context(), id); err == nil {
			f.Email = cu.Email
		}
	}
	held, err := s.heldBy(r.Context(), id, plan, email)
	f.Held = held
	return err
}

// describeDuplicate says what became of a purchase of access its address
// already held: nothing granted, and the payment refunded or being
// refunded. The date of what is held is in the email to the address,
// not on this page, which whoever paid sees.
func (s *Server) describeDuplicate(ctx context.Context, v *statusView) {
	v.State = stateDuplicate
	if p, ok := s.Policy.Plan(v.Attempt.PlanID); ok {
		v.HeldTier = s.Policy.TierName(p.Tier)
	}
	p, found, err := s.Store.Payment(ctx, v.Attempt.Processor, v.Attempt.PaymentID)
	if err != nil {
		s.Logger.Warn("reading the payment for the status page failed", "checkout", v.Attempt.Reference, "err", err)
	}
	v.Refunded = found && p.Status == paidup.PaymentRefunded
}
