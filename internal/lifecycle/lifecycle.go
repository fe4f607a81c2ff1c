// Package lifecycle keeps subscribers' access where the policy says over a
// subscription's life: renewals, failed payments and their grace and
// reminders, late payments, cancellations, chargebacks and double buys.
//
// Processor events are hints. Each names a subscription (or a dispute),
// which is read again from the processor, with the invoices the event and
// the subscription name; what follows is decided from that data, in one
// transaction with the effects (grants, deadlines, emails, timeline), so
// that duplicated, late and out-of-order events converge on the same
// access. Times come from the processor's data, never from when an event
// happened to arrive.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// Notifier queues what the lifecycle tells people, in the transaction of
// the change. *notify.Outbox is one.
type Notifier interface {
	checkout.Notifier
	QueueLifecycle(ctx context.Context, tx *store.Tx, e notify.LifecycleEmail) error
	AlertDispute(ctx context.Context, tx *store.Tx, a notify.DisputeAlert) error
	QueueHold(ctx context.Context, tx *store.Tx, h notify.Hold) error
	QueueRestored(ctx context.Context, tx *store.Tx, r notify.Restored) error
}

// Processor is what the lifecycle asks of a payment processor: the
// objects it re-reads, and a cancellation (a double buy).
type Processor interface {
	Name() string
	Subscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error)
	CancelSubscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error)
	Invoice(ctx context.Context, id string) (paidup.ProcessorInvoice, error)
	Dispute(ctx context.Context, id string) (paidup.ProcessorDispute, error)
}

// Service applies the lifecycle policy.
type Service struct {
	Store     *store.Store
	Processor Processor
	Policy    *paidup.Policy
	Notify    Notifier
	Logger    *slog.Logger
	// RealNow is the wall clock River schedules jobs by; the store's clock
	// is the business clock deadlines are due by. Default time.Now.
	RealNow func() time.Time

	// queue.until is how far ahead (business time) sweeps have given
	// coming deadlines their jobs.
	queue struct {
		sync.Mutex
		until time.Time
	}
	// afterRefundsRead, if set, runs between a sync's read of its
	// payments' refunds and its transaction (tests).
	afterRefundsRead func()
}

// Leeway is how long a paid period's grant outlasts the period.
const Leeway = checkout.SubscriptionLeeway

// Deadline kinds.
const (
	DeadlineReminder  = "reminder"   // a reminder email after a failed renewal
	DeadlineGraceEnd  = "grace_end"  // the grace after a failed renewal ends
	DeadlinePeriodEnd = "period_end" // a cancelled subscription's last period ends
)

// SyncSubscription brings paidup's view of a subscription up to date with
// the processor's, and acts on what changed. invoiceID, if not empty, is
// an invoice an event named. source says who asked (paidup.ByWebhook,
// paidup.ByReconciler).
func (s *Service) SyncSubscription(ctx context.Context, subID, invoiceID, source string) error {
	sub, err := s.Processor.Subscription(ctx, subID)
	if err != nil {
		return fmt.Errorf("reading subscription %s: %w", subID, err)
	}
	plan, ok := s.planFor(sub.PriceIDs)
	if !ok && sub.Reference == "" {
		return nil // not a subscription to any plan of paidup's
	}
	// The invoices that matter: the one the event named, the latest, and
	// the one paidup last saw failing.
	ids := []string{invoiceID, sub.LatestInvoiceID}
	if m, found, err := s.Store.Subscription(ctx, s.Processor.Name(), subID); err != nil {
		return err
	} else if found && m.FailingInvoice != "" {
		ids = append(ids, m.FailingInvoice)
	}
	var invoices []paidup.ProcessorInvoice
	for _, id := range ids {
		if id == "" || slices.ContainsFunc(invoices, func(in paidup.ProcessorInvoice) bool { return in.ID == id }) {
			continue
		}
		in, err := s.Processor.Invoice(ctx, id)
		if err != nil {
			return fmt.Errorf("reading invoice %s: %w", id, err)
		}
		if in.SubscriptionID == sub.ID {
			invoices = append(invoices, in)
		}
	}
	// Oldest first, so that a renewal paid after a failure is seen last.
	slices.SortFunc(invoices, func(a, b paidup.ProcessorInvoice) int { return a.Created.Compare(b.Created) })
	for tries := 1; ; tries++ {
		early, err := s.earlyRefunds(ctx, invoices)
		if err != nil {
			return err
		}
		if s.afterRefundsRead != nil {
			s.afterRefundsRead()
		}
		err = s.Store.InTx(ctx, func(tx *store.Tx) error {
			if err := s.syncTx(ctx, tx, sub, plan, ok, invoices, early, source); err != nil {
				return err
			}
			failpoint.Inject("lifecycle.before_commit")
			return nil
		})
		if errors.Is(err, errRefundedSinceRead) && tries < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("syncing subscription %s: %w", subID, err)
		}
		break
	}
	failpoint.Inject("lifecycle.after_commit")
	return nil
}

func (s *Service) planFor(prices []string) (paidup.Plan, bool) {
	if len(prices) != 1 {
		return paidup.Plan{}, false
	}
	return s.Policy.PlanByPrice(prices[0])
}

// syncTx applies a subscription as the processor reported it.
func (s *Service) syncTx(ctx context.Context, tx *store.Tx, sub paidup.ProcessorSubscription, plan paidup.Plan, planKnown bool,
	invoices []paidup.ProcessorInvoice, early map[string][]paidup.Refund, source string) error {
	processor := s.Processor.Name()
	m, found, err := tx.SubscriptionForUpdate(ctx, processor, sub.ID)
	if err != nil {
		return err
	}
	email := ""
	for _, in := range invoices {
		if e, err := paidup.NormaliseEmail(in.CustomerEmail); err == nil {
			email = e
		}
	}
	customerID, created, err := tx.MatchCustomer(ctx, processor, sub.CustomerID, email)
	if err != nil {
		return err
	}
	c := &change{s: s, tx: tx, ctx: ctx, sub: sub, plan: plan, customerID: customerID, email: email, source: source, early: early}
	if created {
		if err := c.entry(paidup.EventCheckout, "New customer "+email, nil); err != nil {
			return err
		}
	}
	if !planKnown {
		return s.Notify.OpenCase(ctx, tx, paidup.SupportCase{
			DedupeKey: "subscription:" + processor + ":" + sub.ID, CustomerID: customerID, Reference: sub.Reference,
			Kind: paidup.CaseUnknownPlan, Summary: fmt.Sprintf("Subscription %s is to price %v, which no plan sells", sub.ID, sub.PriceIDs),
		})
	}
	if !found {
		m = paidup.Subscription{Processor: processor, ID: sub.ID, CreatedAt: tx.Now()}
	}
	prev := m
	m.CustomerID, m.ProcessorCustomerID, m.PlanID, m.Status = customerID, sub.CustomerID, plan.ID, sub.Status
	m.PeriodStart, m.PeriodEnd = sub.CurrentPeriodStart, sub.CurrentPeriodEnd
	m.CancelAtPeriodEnd, m.EndedAt = sub.CancelAtPeriodEnd, sub.EndedAt
	c.m = &m
	if c.blocks, err = tx.ActiveBlocks(ctx, customerID); err != nil {
		return err
	}

	for _, in := range invoices {
		switch {
		case in.Status == paidup.InvoicePaid && in.PaymentID != "":
			if err := c.paid(in); err != nil {
				return err
			}
		case in.Status == paidup.InvoiceOpen && in.AttemptCount > 0 && in.BillingReason != paidup.InvoiceForSubscriptionCreate:
			if err := c.failed(in); err != nil {
				return err
			}
		case in.ID == m.FailingInvoice && (in.Status == paidup.InvoiceVoid || in.Status == paidup.InvoiceUncollectible):
			// The processor gave up on the invoice; the grace runs out as
			// scheduled unless the subscription ends first (below).
		}
	}
	if err := c.ends(prev, found); err != nil {
		return err
	}
	if !found && !ended(sub) {
		if err := c.doubleBuy(); err != nil {
			return err
		}
	}
	if err := tx.PutSubscription(ctx, m); err != nil {
		return err
	}
	return nil
}

func ended(sub paidup.ProcessorSubscription) bool {
	return sub.Status == paidup.SubscriptionCanceled || !sub.EndedAt.IsZero()
}

// change is one sync of a subscription in a transaction.
type change struct {
	s          *Service
	tx         *store.Tx
	ctx        context.Context
	sub        paidup.ProcessorSubscription
	plan       paidup.Plan
	m          *paidup.Subscription
	customerID string
	email      string
	blocks     []paidup.Block
	source     string
	// early are the refunds of payments refunded before paidup recorded
	// them, by payment (see earlyRefunds).
	early map[string][]paidup.Refund
	// period is the grant of the latest paid period this sync saw.
	period paidup.Grant
	// failing is the renewal that was unpaid when the subscription ended.
	failing string
}

func (c *change) entry(kind, summary string, data map[string]string) error {
	if data == nil {
		data = map[string]string{}
	}
	data["subscription"] = c.sub.ID
	return c.tx.Append(c.ctx, paidup.TimelineEntry{CustomerID: c.customerID, Reference: c.sub.Reference, Kind: kind,
		Source: c.source, Summary: summary, Data: data})
}

// grantEnd is when a paid period's grant ends: the period's end, plus the
// leeway while the subscription is to renew.
func (c *change) grantEnd(periodEnd time.Time) time.Time {
	if c.sub.CancelAtPeriodEnd || ended(c.sub) {
		return periodEnd
	}
	return periodEnd.Add(Leeway)
}

// paid grants the period a paid invoice pays for, once, and ends a failure
// it settles.
func (c *change) paid(in paidup.ProcessorInvoice) error {
	processor := c.s.Processor.Name()
	ref := processor + ":" + in.PaymentID
	if err := c.tx.RecordPayment(c.ctx, paidup.Payment{Processor: processor, ID: in.PaymentID, CustomerID: c.customerID,
		CheckoutReference: c.sub.Reference, PlanID: c.plan.ID, Amount: in.Amount, PaidAt: orNow(in.PaidAt, c.tx.Now())}); err != nil {
		return err
	}
	// A refund that came before paidup knew of the payment.
	tellPartial := false
	if refunded, err := c.tx.TakeEarlyRefund(c.ctx, processor, in.PaymentID); err != nil {
		return err
	} else if refunded > 0 {
		if changed, err := c.tx.SetRefunded(c.ctx, processor, in.PaymentID, refunded); err != nil {
			return err
		} else if changed && refunded >= in.Amount.Amount {
			if err := c.entry(paidup.EventPayment, fmt.Sprintf("Payment of %s for %s was refunded in full before access was granted; no access granted",
				in.Amount, in.ID), map[string]string{"invoice": in.ID, "payment": in.PaymentID}); err != nil {
				return err
			}
			if err := c.tellEarlyRefund(in, true); err != nil {
				return err
			}
		} else if changed {
			tellPartial = true // once the rest has granted its period
		}
	}
	// A payment refunded in full before it granted grants nothing.
	if p, _, err := c.tx.PaymentForUpdate(c.ctx, processor, in.PaymentID); err != nil {
		return err
	} else if p.Status == paidup.PaymentRefunded {
		if _, found, err := c.tx.GrantBySource(c.ctx, paidup.SourceSubscription, ref); err != nil || !found {
			return err
		}
	}
	g, created, err := c.tx.InsertGrant(c.ctx, paidup.Grant{CustomerID: c.customerID, Tier: c.plan.Tier, PlanID: c.plan.ID,
		Source: paidup.SourceSubscription, SourceRef: ref, Start: in.PeriodStart, End: c.grantEnd(in.PeriodEnd)})
	if err != nil {
		return err
	}
	defer func() { c.period = g }() // with the end it is given below
	ids := map[string]string{"invoice": in.ID, "payment": in.PaymentID, "grant": g.ID}
	// A renewal gets a reference of its own; the first payment has its
	// checkout's, or, bought some other way than paidup's checkout, one
	// of its own too.
	reference := c.sub.Reference
	if in.BillingReason != paidup.InvoiceForSubscriptionCreate || !paidup.IsReference(reference) {
		rec, err := c.invoice(in, paidup.InvoicePaid)
		if err != nil {
			return err
		}
		reference, ids["reference"] = rec.Reference, rec.Reference
	}
	if created {
		// A period that began before a chargeback paidup learnt of first
		// ends with the others the chargeback ended, if the policy ends
		// recurring grants; else the block suspends it.
		for _, b := range c.blocks {
			if b.Source == paidup.BlockDispute && g.Start.Before(b.CreatedAt) && c.s.Policy.ChargebackEnds(g, "") {
				if _, err := c.tx.RevokeGrant(c.ctx, g.ID, "paid before a chargeback ("+b.Reason+")"); err != nil {
					return err
				}
				break
			}
		}
		what := "Renewal"
		if in.BillingReason == paidup.InvoiceForSubscriptionCreate {
			what = "First payment"
		}
		if err := c.entry(paidup.EventPayment, fmt.Sprintf("%s of %s paid: %s until %s", what, in.Amount,
			c.s.Policy.TierName(c.plan.Tier), g.End.Format("2 January 2006 15:04 MST")), ids); err != nil {
			return err
		}
		if len(c.blocks) > 0 {
			if err := c.s.Notify.OpenCase(c.ctx, c.tx, paidup.SupportCase{
				DedupeKey: "payment:" + ref, CustomerID: c.customerID, Reference: in.ID, PaymentID: in.PaymentID,
				Kind: paidup.CaseBlockedPayer, Summary: fmt.Sprintf("Paid %s for %s while blocked (%s); no access until a person lifts the block",
					in.Amount, c.plan.Name, c.blocks[0].Reason),
			}); err != nil {
				return err
			}
		}
		if in.BillingReason == paidup.InvoiceForSubscriptionCreate && c.email != "" {
			if err := c.s.Notify.QueueConfirmation(c.ctx, c.tx, checkout.Confirmation{Grant: g, Email: c.email,
				Reference: reference, Amount: in.Amount}); err != nil {
				return err
			}
		}
		if in.BillingReason == paidup.InvoiceForSubscriptionCycle && c.s.Policy.Lifecycle.RenewalReceipts && len(c.blocks) == 0 &&
			c.m.FailingInvoice != in.ID {
			if err := c.s.Notify.QueueLifecycle(c.ctx, c.tx, notify.LifecycleEmail{Kind: notify.KindRenewalReceipt,
				Key: "renewal_receipt:" + processor + ":" + in.ID, CustomerID: c.customerID, To: c.customerEmail(), PlanID: c.plan.ID,
				Tier: c.plan.Tier, Amount: in.Amount, Until: in.PeriodEnd, Renews: !c.sub.CancelAtPeriodEnd && !ended(c.sub),
				Reference: reference}); err != nil {
				return err
			}
		}
	} else if end := c.grantEnd(in.PeriodEnd); g.Source == paidup.SourceSubscription && !g.End.Equal(end) {
		// The subscription was cancelled (or the cancellation undone)
		// since the grant: its end follows.
		if _, err := c.tx.SetGrantEnd(c.ctx, g.ID, end); err != nil {
			return err
		}
		g.End = end
	}
	if tellPartial {
		if err := c.tellEarlyRefund(in, false); err != nil {
			return err
		}
	}
	if c.m.FailingInvoice != in.ID {
		return nil
	}
	return c.settled(in, g, reference)
}

// invoice records an invoice paidup tells the customer about, with its
// reference.
func (c *change) invoice(in paidup.ProcessorInvoice, status string) (paidup.Invoice, error) {
	return c.tx.PutInvoice(c.ctx, paidup.Invoice{Processor: c.s.Processor.Name(), ID: in.ID, CustomerID: c.customerID,
		SubscriptionID: c.sub.ID, PlanID: c.plan.ID, Amount: in.Amount, Status: status, PaymentID: in.PaymentID, CreatedAt: in.Created})
}

// settled ends a failure: a late payment of the failing invoice.
func (c *change) settled(in paidup.ProcessorInvoice, g paidup.Grant, reference string) error {
	failingSince := c.m.FailingSince
	c.m.FailingInvoice, c.m.FailingSince = "", time.Time{}
	if _, err := c.tx.CancelDeadlines(c.ctx, c.subject(), DeadlineReminder, DeadlineGraceEnd); err != nil {
		return err
	}
	processor := c.s.Processor.Name()
	graceEnd := failingSince.Add(c.s.Policy.GraceFor(c.plan))
	if grace, found, err := c.tx.GrantBySource(c.ctx, paidup.SourceGrace, processor+":"+in.ID); err != nil {
		return err
	} else if found {
		if _, err := c.tx.RevokeGrant(c.ctx, grace.ID, "the renewal was paid"); err != nil {
			return err
		}
	}
	ids := map[string]string{"invoice": in.ID, "payment": in.PaymentID}
	if len(c.blocks) > 0 {
		return c.entry(paidup.EventSubscription, "The failed renewal was paid; the customer stays blocked", ids)
	}
	if c.tx.Now().Before(graceEnd) {
		return c.entry(paidup.EventSubscription, "The failed renewal was paid within the grace; reminders stopped", ids)
	}
	if err := c.entry(paidup.EventSubscription, fmt.Sprintf("The failed renewal was paid after the grace ended: %s is back", c.s.Policy.TierName(c.plan.Tier)), ids); err != nil {
		return err
	}
	return c.s.Notify.QueueLifecycle(c.ctx, c.tx, notify.LifecycleEmail{Kind: notify.KindWelcomeBack, Key: "welcome_back:" + processor + ":" + in.ID,
		CustomerID: c.customerID, To: c.customerEmail(), PlanID: c.plan.ID, Tier: c.plan.Tier, Amount: in.Amount, Until: g.End,
		Processor: processor, ProcessorCustomerID: c.sub.CustomerID, Reference: reference})
}

// failed starts the grace after a renewal failed, once per invoice.
func (c *change) failed(in paidup.ProcessorInvoice) error {
	if c.m.FailingInvoice == in.ID || ended(c.sub) {
		return nil
	}
	processor := c.s.Processor.Name()
	since := in.Created
	if since.IsZero() {
		since = c.tx.Now()
	}
	c.m.FailingInvoice, c.m.FailingSince = in.ID, since
	rec, err := c.invoice(in, paidup.InvoiceFailed)
	if err != nil {
		return err
	}
	ids := map[string]string{"invoice": in.ID, "reference": rec.Reference}
	if len(c.blocks) > 0 {
		return c.entry(paidup.EventSubscription, fmt.Sprintf("Renewal of %s failed; the customer is blocked, so no grace", in.Amount), ids)
	}
	grace := c.s.Policy.GraceFor(c.plan)
	graceEnd := since.Add(grace)
	g, _, err := c.tx.InsertGrant(c.ctx, paidup.Grant{CustomerID: c.customerID, Tier: c.plan.Tier, PlanID: c.plan.ID,
		Source: paidup.SourceGrace, SourceRef: processor + ":" + in.ID, Start: since, End: graceEnd})
	if err != nil {
		return err
	}
	ids["grant"] = g.ID
	if err := c.entry(paidup.EventSubscription, fmt.Sprintf("Renewal of %s failed; %s continues through the grace, until %s",
		in.Amount, c.s.Policy.TierName(c.plan.Tier), graceEnd.Format("2 January 2006 15:04 MST")), ids); err != nil {
		return err
	}
	// A reminder whose successor is due already is passed over: a failure
	// learnt of late gets the latest reminder, not all of them at once.
	reminders := c.s.Policy.Lifecycle.Reminders
	now := c.tx.Now()
	for i, r := range reminders {
		if i+1 < len(reminders) && !since.Add(reminders[i+1].After).After(now) {
			continue
		}
		if err := c.s.schedule(c.ctx, c.tx, store.Deadline{Key: fmt.Sprintf("reminder:%s:%s:%d", processor, in.ID, i),
			Kind: DeadlineReminder, CustomerID: c.customerID, Subject: c.subject(), Due: since.Add(r.After),
			Data: map[string]string{"invoice": in.ID, "reference": rec.Reference, "reminder": fmt.Sprint(i),
				"amount": fmt.Sprint(in.Amount.Amount), "currency": in.Amount.Currency}}); err != nil {
			return err
		}
	}
	return c.s.schedule(c.ctx, c.tx, store.Deadline{Key: "grace_end:" + processor + ":" + in.ID, Kind: DeadlineGraceEnd,
		CustomerID: c.customerID, Subject: c.subject(), Due: graceEnd, Data: map[string]string{"invoice": in.ID, "reference": rec.Reference}})
}

// ends records cancellations: scheduled, undone, and done.
func (c *change) ends(prev paidup.Subscription, found bool) error {
	processor := c.s.Processor.Name()
	switch {
	case ended(c.sub) && (!found || prev.Status != paidup.SubscriptionCanceled):
		had, err := c.subscriptionAccess()
		if err != nil {
			return err
		}
		graceCut := false
		if _, err := c.tx.CancelDeadlines(c.ctx, c.subject(), DeadlineReminder); err != nil {
			return err
		}
		summary := fmt.Sprintf("Subscription ended; the paid period ran until %s", c.sub.CurrentPeriodEnd.Format("2 January 2006 15:04 MST"))
		if c.m.FailingInvoice != "" {
			// Cancelled while failing: the grace ends with it.
			if g, found, err := c.tx.GrantBySource(c.ctx, paidup.SourceGrace, processor+":"+c.m.FailingInvoice); err != nil {
				return err
			} else if found && g.ActiveAt(c.tx.Now()) {
				if _, err := c.tx.RevokeGrant(c.ctx, g.ID, "the subscription was cancelled"); err != nil {
					return err
				}
				summary, graceCut = "Subscription cancelled while its renewal was unpaid; the grace ends now", true
			}
			if _, err := c.tx.CancelDeadlines(c.ctx, c.subject(), DeadlineGraceEnd); err != nil {
				return err
			}
			c.failing, c.m.FailingInvoice, c.m.FailingSince = c.m.FailingInvoice, "", time.Time{}
		}
		if err := c.entry(paidup.EventSubscription, summary, nil); err != nil {
			return err
		}
		return c.endedNow(prev, had, graceCut)
	case c.sub.CancelAtPeriodEnd && !prev.CancelAtPeriodEnd:
		if err := c.s.schedule(c.ctx, c.tx, store.Deadline{Key: fmt.Sprintf("period_end:%s:%s:%d", processor, c.sub.ID, c.sub.CurrentPeriodEnd.Unix()),
			Kind: DeadlinePeriodEnd, CustomerID: c.customerID, Subject: c.subject(), Due: c.sub.CurrentPeriodEnd}); err != nil {
			return err
		}
		if err := c.entry(paidup.EventSubscription, fmt.Sprintf("Subscription set to end with its period: access until %s",
			c.sub.CurrentPeriodEnd.Format("2 January 2006 15:04 MST")), nil); err != nil {
			return err
		}
		c.m.Cancellations++
		return c.cancellationConfirmed()
	case !c.sub.CancelAtPeriodEnd && prev.CancelAtPeriodEnd && found:
		if _, err := c.tx.CancelDeadlines(c.ctx, c.subject(), DeadlinePeriodEnd); err != nil {
			return err
		}
		if err := c.entry(paidup.EventSubscription, "The subscription's cancellation was undone: it renews", nil); err != nil {
			return err
		}
		return c.resumed(prev)
	}
	return nil
}

// cancellationConfirmed tells the customer their subscription ends with
// its paid period, what they keep and until when: once per cancellation,
// whoever made it (paidup's account page, the processor's portal).
func (c *change) cancellationConfirmed() error {
	if len(c.blocks) > 0 {
		return nil // on hold: the hold is what they are told about
	}
	grants, err := c.tx.Grants(c.ctx, c.customerID)
	if err != nil {
		return err
	}
	// Access lasts as long as the subscription's grants do: the paid
	// period, or the grace of a renewal that failed.
	var until time.Time
	for _, g := range grants {
		if g.PlanID == c.plan.ID && (g.Source == paidup.SourceSubscription || g.Source == paidup.SourceGrace) &&
			g.ActiveAt(c.tx.Now()) && g.End.After(until) {
			until = g.End
		}
	}
	if until.IsZero() {
		until = c.sub.CurrentPeriodEnd
	}
	after := c.s.Policy.AccessAt(grants, nil, until)
	keeps := ""
	if after.Active {
		keeps = after.Tier
	}
	var graceEnds time.Time // a renewal unpaid: access lasts the grace, not a paid period
	if c.m.Failing() {
		graceEnds = until
	}
	return c.s.Notify.QueueLifecycle(c.ctx, c.tx, notify.LifecycleEmail{Kind: notify.KindCancellation, GraceEnds: graceEnds,
		Key: "cancelled:" + c.subject() + ":" + strconv.Itoa(c.m.Cancellations), CustomerID: c.customerID,
		To: c.customerEmail(), PlanID: c.plan.ID, Tier: c.plan.Tier, Until: until, Keeps: keeps, KeepsUntil: after.Until, Reference: c.sub.Reference})
}

// resumed tells the customer the cancellation prev recorded is undone:
// once per cancellation undone.
func (c *change) resumed(prev paidup.Subscription) error {
	if len(c.blocks) > 0 {
		return nil
	}
	return c.s.Notify.QueueLifecycle(c.ctx, c.tx, notify.LifecycleEmail{Kind: notify.KindResumed,
		Key: "resumed:" + c.subject() + ":" + strconv.Itoa(prev.Cancellations), CustomerID: c.customerID,
		To: c.customerEmail(), PlanID: c.plan.ID, Tier: c.plan.Tier, Amount: c.plan.Amount, Until: c.sub.CurrentPeriodEnd,
		Reference: c.sub.Reference})
}

// doubleBuy keeps one entitlement when a customer subscribes while another
// of their subscriptions is failing, and flags a second active
// subscription to the same tier.
func (c *change) doubleBuy() error {
	others, err := c.tx.CustomerSubscriptions(c.ctx, c.customerID)
	if err != nil {
		return err
	}
	newRank := c.s.Policy.Rank(c.plan.Tier)
	processor := c.s.Processor.Name()
	for _, o := range others {
		if o.ID == c.sub.ID || o.Status == paidup.SubscriptionCanceled || !o.EndedAt.IsZero() {
			continue
		}
		op, _ := c.s.Policy.Plan(o.PlanID)
		ids := map[string]string{"other_subscription": o.ID}
		switch {
		case o.Failing() && c.s.Policy.Rank(op.Tier) <= newRank:
			if c.s.Policy.Lifecycle.DoubleBuy == paidup.DoubleBuyFlag {
				if err := c.entry(paidup.EventSubscription, fmt.Sprintf("Subscribed again while %s is failing; flagged for a person", o.ID), ids); err != nil {
					return err
				}
				if err := c.s.Notify.OpenCase(c.ctx, c.tx, paidup.SupportCase{DedupeKey: "double_buy:" + processor + ":" + o.ID,
					CustomerID: c.customerID, Reference: c.sub.Reference, Kind: paidup.CaseDoubleBuy,
					Summary: fmt.Sprintf("Bought %s while %s is failing: cancel or refund one", c.sub.ID, o.ID)}); err != nil {
					return err
				}
				continue
			}
			// The failing one goes: its grace and reminders end now, and
			// a job cancels it at the processor.
			g, found, err := c.tx.GrantBySource(c.ctx, paidup.SourceGrace, processor+":"+o.FailingInvoice)
			if err != nil {
				return err
			}
			if found {
				if _, err := c.tx.RevokeGrant(c.ctx, g.ID, "replaced by "+c.sub.ID); err != nil {
					return err
				}
			}
			if _, err := c.tx.CancelDeadlines(c.ctx, processor+":"+o.ID); err != nil {
				return err
			}
			if err := c.tx.Enqueue(c.ctx, CancelArgs{Processor: processor, SubscriptionID: o.ID, Reason: "replaced by " + c.sub.ID}, nil); err != nil {
				return err
			}
			if err := c.entry(paidup.EventSubscription, fmt.Sprintf("Subscribed again while %s was failing: the failing one is being cancelled", o.ID), ids); err != nil {
				return err
			}
			if found && g.ActiveAt(c.tx.Now()) && len(c.blocks) == 0 {
				// Its grace ends now: told under the failing renewal's
				// reference, which its reminders gave.
				in, _, err := c.tx.InvoiceForUpdate(c.ctx, processor, o.FailingInvoice)
				if err != nil {
					return err
				}
				if err := c.tellEnded(o.ID, op, in.Reference, time.Time{}, time.Time{}, ""); err != nil {
					return err
				}
			}
		case !o.Failing() && !o.CancelAtPeriodEnd && op.Tier == c.plan.Tier:
			if err := c.s.Notify.OpenCase(c.ctx, c.tx, paidup.SupportCase{DedupeKey: "duplicate:" + processor + ":" + c.sub.ID,
				CustomerID: c.customerID, Reference: c.sub.Reference, Kind: paidup.CaseDuplicateSub,
				Summary: fmt.Sprintf("Two active subscriptions to %s: %s and %s; cancel or refund one", c.s.Policy.TierName(c.plan.Tier), o.ID, c.sub.ID)}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *change) subject() string { return c.s.Processor.Name() + ":" + c.sub.ID }

func (c *change) customerEmail() string {
	if c.email != "" {
		return c.email
	}
	cu, err := c.tx.Customer(c.ctx, c.customerID)
	if err != nil {
		return ""
	}
	return cu.Email
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// CancelArgs is the job that cancels a subscription at the processor.
type CancelArgs struct {
	Processor      string `json:"processor"`
	SubscriptionID string `json:"subscription_id"`
	Reason         string `json:"reason"`
}

// Kind names the job.
func (CancelArgs) Kind() string { return "cancel_subscription" }

// InsertOpts: retried for about a day, then a person is asked.
func (CancelArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 15} }
