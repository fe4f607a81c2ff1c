package checkout

import (
	"context"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/store"
)

// PlanOf is the plan a grant was bought by: the configured one, or, for a
// plan no longer configured, one of the kind its grant shows.
func PlanOf(policy *paidup.Policy, g paidup.Grant, amount paidup.Money) paidup.Plan {
	if p, ok := policy.Plan(g.PlanID); ok {
		return p
	}
	p := paidup.Plan{ID: g.PlanID, Name: g.PlanID, Amount: amount, Interval: paidup.Once}
	if g.Source == paidup.SourceSubscription {
		p.Interval = paidup.Monthly
	} else if !g.End.IsZero() {
		p.Term = paidup.Term{N: 1, Unit: 'd'}
	}
	return p
}

// PurchaseFacts is what is true now of the purchase of plan whose grant is
// g and whose payment has paymentStatus: the customer's blocks and, for a
// subscription's grant, its subscription and grace. Pages and emails word
// a purchase from these, read when they are shown or sent.
func PurchaseFacts(ctx context.Context, s *store.Store, policy *paidup.Policy, plan paidup.Plan, g paidup.Grant, paymentStatus string, now time.Time) (standing.Facts, error) {
	f := standing.Facts{Plan: plan, TierName: policy.TierName(g.Tier), Granted: true, Grant: g,
		Refunded: paymentStatus == paidup.PaymentRefunded, Now: now}
	blocks, err := s.Blocks(ctx, g.CustomerID)
	if err != nil {
		return f, err
	}
	for _, b := range blocks {
		f.Blocked = f.Blocked || b.ActiveAt(now)
	}
	if g.Source != paidup.SourceSubscription {
		return f, nil
	}
	if !g.End.IsZero() {
		f.PeriodEnd = g.End.Add(-SubscriptionLeeway)
	}
	subs, err := s.Subscriptions(ctx, g.CustomerID)
	if err != nil {
		return f, err
	}
	processor, _, _ := strings.Cut(g.SourceRef, ":")
	var sub *paidup.Subscription
	for i := range subs {
		if subs[i].Processor == processor && subs[i].PlanID == plan.ID && (sub == nil || subs[i].CreatedAt.After(sub.CreatedAt)) {
			sub = &subs[i]
		}
	}
	if sub == nil {
		return f, nil
	}
	f.Subscription = &standing.Subscription{Ended: !sub.EndedAt.IsZero() || sub.Status == paidup.SubscriptionCanceled,
		EndedAt: sub.EndedAt, PeriodEnd: sub.PeriodEnd, CancelAtPeriodEnd: sub.CancelAtPeriodEnd, Failing: sub.Failing()}
	if sub.Failing() {
		grants, err := s.Grants(ctx, g.CustomerID)
		if err != nil {
			return f, err
		}
		for _, gg := range grants {
			if gg.Source == paidup.SourceGrace && gg.SourceRef == sub.Processor+":"+sub.FailingInvoice {
				f.Subscription.GraceEnds = gg.End
			}
		}
	}
	return f, nil
}
