package lifecycle

import (
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
)

// endedKey keys the subscription_ended email: once per subscription.
func endedKey(processor, subID string) string { return "subscription_ended:" + processor + ":" + subID }

// subscriptionAccess reports whether the customer has access from the
// subscription now: its latest paid period's grant, or the grace of its
// failing renewal.
func (c *change) subscriptionAccess() (bool, error) {
	now := c.tx.Now()
	if c.period.ID != "" && c.period.ActiveAt(now) {
		return true, nil
	}
	if c.m.FailingInvoice == "" {
		return false, nil
	}
	g, found, err := c.tx.GrantBySource(c.ctx, paidup.SourceGrace, c.s.Processor.Name()+":"+c.m.FailingInvoice)
	return found && g.ActiveAt(now), err
}

// endedNow tells the customer their subscription ended before they were
// told it would (cancelled in the processor's dashboard, or by its
// portal's "cancel now"): what ended, when, and what they keep. had says
// whether they had access from it before it ended; without, nothing they
// had changed (its grace ran out and was told, or it ended with the
// period, as its cancellation said). A cancellation at the period's end
// told already is not told again unless it cut a grace short.
func (c *change) endedNow(prev paidup.Subscription, had, graceCut bool) error {
	if len(c.blocks) > 0 || !had || (prev.CancelAtPeriodEnd && !graceCut) {
		return nil // on hold: the hold is what they are told about
	}
	now := c.tx.Now()
	var until time.Time
	if c.period.ID != "" && c.period.ActiveAt(now) {
		until = c.period.End // paid for: it lasts its period
	}
	reference := c.sub.Reference
	if !paidup.IsReference(reference) && c.failing != "" {
		if in, found, err := c.tx.InvoiceForUpdate(c.ctx, c.s.Processor.Name(), c.failing); err != nil {
			return err
		} else if found {
			reference = in.Reference
		}
	}
	return c.tellEnded(c.sub.ID, c.plan, reference, c.sub.EndedAt, until, c.period.ID)
}

// tellEnded queues the subscription_ended email for subscription subID
// to plan: ended at ended (zero: now), the paid period kept until until
// (zero: access from it ended with it), and what the customer keeps from
// their other grants (all but the subscription's period, except).
func (c *change) tellEnded(subID string, plan paidup.Plan, reference string, ended, until time.Time, except string) error {
	grants, err := c.tx.Grants(c.ctx, c.customerID)
	if err != nil {
		return err
	}
	var others []paidup.Grant
	for _, g := range grants {
		if g.ID != except {
			others = append(others, g)
		}
	}
	at := c.tx.Now()
	if ended.IsZero() || ended.After(at) {
		ended = at
	}
	if until.After(at) {
		at = until
	}
	after := c.s.Policy.AccessAt(others, nil, at)
	keeps := ""
	if after.Active {
		keeps = after.Tier
	}
	return c.s.Notify.QueueLifecycle(c.ctx, c.tx, notify.LifecycleEmail{Kind: notify.KindSubscriptionEnded,
		Key: endedKey(c.s.Processor.Name(), subID), CustomerID: c.customerID, To: c.customerEmail(), PlanID: plan.ID, Tier: plan.Tier,
		Ended: ended, Until: until, Keeps: keeps, KeepsUntil: after.Until, Reference: reference})
}
