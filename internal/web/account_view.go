package web

import (
	"context"
	"slices"
	"time"

	"github.com/paidup/paidup"
)

// Subscription states, as the account page tells them.
const (
	subRenews    = "renews"    // it renews at the period's end
	subCancelled = "cancelled" // it ends with the paid period
	subFailing   = "failing"   // a renewal failed: the grace runs
	subOnHold    = "on_hold"   // the customer is blocked
	subEnded     = "ended"
	subStarting  = "starting" // the first payment is not through yet
)

// subscriptionView is one subscription on the account page.
type subscriptionView struct {
	ID    string // the form's value: which subscription to cancel or resume
	Plan  string
	State string // subRenews, …
	// Line says where it stands and what happens next, in a sentence.
	Line      string
	CanCancel bool
	CanResume bool
}

// Payment states, as the account page tells them.
const (
	payPaid      = "paid"
	payRefunded  = "refunded"
	payPartly    = "partly_refunded"
	payDisputed  = "disputed"
	payFailed    = "failed"   // a renewal failed, and is still being retried
	payNotPaid   = "not_paid" // a renewal that failed and was given up on
	dateOnlyForm = "2 January 2006"
)

// purchaseView is one payment, or one renewal that failed, on the account
// page.
type purchaseView struct {
	Reference, Plan, Amount, Paid, Status string
	State                                 string // payPaid, …
	at                                    time.Time
}

// accountState reads what the account page shows a signed-in customer.
func (s *Server) accountState(ctx context.Context, customerID string) (accountPage, error) {
	c, err := s.Store.Customer(ctx, customerID)
	if err != nil {
		return accountPage{}, err
	}
	grants, err := s.Store.Grants(ctx, customerID)
	if err != nil {
		return accountPage{}, err
	}
	blocks, err := s.Store.Blocks(ctx, customerID)
	if err != nil {
		return accountPage{}, err
	}
	subs, err := s.Store.Subscriptions(ctx, customerID)
	if err != nil {
		return accountPage{}, err
	}
	now := s.Now()
	p := accountPage{Signedin: true, Email: c.Email, Access: s.Policy.AccessAt(grants, blocks, now)}
	if t, ok := s.Policy.Tier(p.Access.Tier); ok {
		p.TierName = t.Name
	}
	if p.Access.Blocked {
		if p.Hold, err = s.holdState(ctx, grants, blocks, now); err != nil {
			return accountPage{}, err
		}
	}
	running := false
	for _, sub := range slices.Backward(subs) {
		v := s.subscriptionView(sub, p.Access.Blocked)
		if v.State == subEnded && !sub.EndedAt.IsZero() && now.Sub(sub.EndedAt) > 90*24*time.Hour {
			continue // long over: the payments below say what it was
		}
		running = running || v.State == subRenews || v.State == subFailing || v.State == subStarting
		p.Subscriptions = append(p.Subscriptions, v)
	}
	// Only a subscription still to be charged has a card to change: a
	// one-time buyer, or one whose subscription is cancelled, ended or on
	// hold, is told nothing about one.
	if running {
		_, card := s.cardCustomer(ctx, c)
		p.CardUpdate = card != ""
	}
	if p.Purchases, err = s.purchases(ctx, customerID, subs); err != nil {
		return accountPage{}, err
	}
	return p, nil
}

// subscriptionView says where a subscription stands, as its mirror of the
// processor's word has it.
func (s *Server) subscriptionView(sub paidup.Subscription, blocked bool) subscriptionView {
	v := subscriptionView{ID: sub.ID, Plan: sub.PlanID}
	plan, known := s.Policy.Plan(sub.PlanID)
	if known {
		v.Plan = plan.Name
	}
	tier := s.Policy.TierName(plan.Tier)
	end := sub.PeriodEnd.Format(dateOnlyForm)
	switch {
	case sub.Status == paidup.SubscriptionCanceled || !sub.EndedAt.IsZero():
		v.State = subEnded
		at := sub.EndedAt
		if at.IsZero() {
			at = sub.PeriodEnd
		}
		v.Line = "Ended on " + at.Format(dateOnlyForm) + ". It will not renew, and you will not be charged for it again."
	case blocked:
		v.State = subOnHold
		v.Line = "On hold, with your access (see above). It still renews; a person looks at any renewal paid while the hold is on."
	case sub.Status == paidup.SubscriptionIncomplete:
		v.State = subStarting
		v.Line = "Waiting for the first payment to go through."
	case sub.Failing():
		v.State = subFailing
		graceEnd := sub.FailingSince.Add(s.Policy.GraceFor(plan)).Format(dateOnlyForm)
		if sub.CancelAtPeriodEnd {
			v.Line = "Cancelled, and the last renewal was not paid: you keep " + tier + " until " + graceEnd + ". It will not renew."
			v.CanResume = true
		} else {
			v.Line = "Payment failed: you keep " + tier + " until " + graceEnd + " while the card is tried again. Update your card below to keep it after that."
			v.CanCancel = true
		}
	case sub.CancelAtPeriodEnd:
		v.State = subCancelled
		v.Line = "Cancelled: you keep " + tier + " until " + end + ". It will not renew, and you will not be charged for it again."
		v.CanResume = true
	default:
		v.State = subRenews
		v.Line = "Renews on " + end
		if known {
			v.Line += " for " + plan.Amount.String()
		}
		v.Line += ". You can cancel any time; you keep " + tier + " until then."
		v.CanCancel = true
	}
	return v
}

// purchases lists a customer's payments, each with its true state, and
// the renewals that failed, newest first, each with the reference the
// customer may quote.
func (s *Server) purchases(ctx context.Context, customerID string, subs []paidup.Subscription) ([]purchaseView, error) {
	payments, err := s.Store.Payments(ctx, customerID)
	if err != nil {
		return nil, err
	}
	invoices, err := s.Store.Invoices(ctx, customerID)
	if err != nil {
		return nil, err
	}
	disputed, err := s.Store.DisputedPayments(ctx, customerID)
	if err != nil {
		return nil, err
	}
	refOf := map[string]string{} // payment id → the invoice's reference
	var out []purchaseView
	for _, in := range invoices {
		if in.PaymentID != "" {
			refOf[in.Processor+":"+in.PaymentID] = in.Reference
			continue
		}
		if in.Status != paidup.InvoiceFailed {
			continue
		}
		pv := purchaseView{Reference: in.Reference, Plan: s.planName(in.PlanID), Amount: in.Amount.String(),
			Paid: in.CreatedAt.Format(dateOnlyForm), State: payNotPaid, Status: "Not paid: the renewal failed", at: in.CreatedAt}
		if slices.ContainsFunc(subs, func(sub paidup.Subscription) bool { return sub.FailingInvoice == in.ID }) {
			pv.State, pv.Status = payFailed, "Payment failed: the card will be tried again"
		}
		out = append(out, pv)
	}
	for _, pay := range payments {
		pv := purchaseView{Reference: pay.CheckoutReference, Plan: s.planName(pay.PlanID), Amount: pay.Amount.String(),
			Paid: pay.PaidAt.Format(dateOnlyForm), State: payPaid, Status: "Paid", at: pay.PaidAt}
		if ref := refOf[pay.Processor+":"+pay.ID]; ref != "" {
			pv.Reference = ref
		}
		switch {
		case disputed[pay.ID]:
			pv.State, pv.Status = payDisputed, "Disputed: your bank has taken this payment back"
		case pay.Status == paidup.PaymentRefunded:
			pv.State, pv.Status = payRefunded, "Refunded"
		case pay.AmountRefunded > 0:
			pv.State = payPartly
			pv.Status = "Paid, " + paidup.Money{Amount: pay.AmountRefunded, Currency: pay.Amount.Currency}.String() + " refunded"
		}
		out = append(out, pv)
	}
	slices.SortStableFunc(out, func(a, b purchaseView) int { return b.at.Compare(a.at) })
	return out, nil
}

func (s *Server) planName(id string) string {
	if pl, ok := s.Policy.Plan(id); ok {
		return pl.Name
	}
	return id
}
