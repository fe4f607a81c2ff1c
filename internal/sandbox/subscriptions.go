package sandbox

import (
	"net/http"
	"slices"
	"time"
)

// Subscription is a Stripe subscription: a customer billed for its items
// every period.
type Subscription struct {
	meta
	Application           *string  `json:"application"`
	ApplicationFeePercent *float64 `json:"application_fee_percent"`
	AutomaticTax          struct {
		DisabledReason *string   `json:"disabled_reason"`
		Enabled        bool      `json:"enabled"`
		Liability      *struct{} `json:"liability"`
	} `json:"automatic_tax"`
	BillingCycleAnchor       int64     `json:"billing_cycle_anchor"`
	BillingCycleAnchorConfig *struct{} `json:"billing_cycle_anchor_config"`
	BillingMode              struct {
		Type string `json:"type"`
	} `json:"billing_mode"`
	// BillingSchedules is shown by newer API versions, and by Stripe's
	// OpenAPI spec; always empty here.
	BillingSchedules     []struct{}          `json:"billing_schedules"`
	BillingThresholds    *struct{}           `json:"billing_thresholds"`
	CancelAt             *int64              `json:"cancel_at"`
	CancelAtPeriodEnd    bool                `json:"cancel_at_period_end"`
	CanceledAt           *int64              `json:"canceled_at"`
	CancellationDetails  cancellationDetails `json:"cancellation_details"`
	CollectionMethod     string              `json:"collection_method"`
	Currency             string              `json:"currency"`
	Customer             string              `json:"customer"`
	DaysUntilDue         *int64              `json:"days_until_due"`
	DefaultPaymentMethod *string             `json:"default_payment_method"`
	DefaultSource        *string             `json:"default_source"`
	DefaultTaxRates      []struct{}          `json:"default_tax_rates"`
	Description          *string             `json:"description"`
	Discounts            []string            `json:"discounts"`
	EndedAt              *int64              `json:"ended_at"`
	InvoiceSettings      struct {
		AccountTaxIDs []string   `json:"account_tax_ids"`
		Issuer        accountRef `json:"issuer"`
	} `json:"invoice_settings"`
	Items                         SubscriptionItems `json:"items"`
	LatestInvoice                 *string           `json:"latest_invoice"`
	Metadata                      Metadata          `json:"metadata"`
	NextPendingInvoiceItemInvoice *int64            `json:"next_pending_invoice_item_invoice"`
	OnBehalfOf                    *string           `json:"on_behalf_of"`
	PauseCollection               *struct{}         `json:"pause_collection"`
	PaymentSettings               struct {
		PaymentMethodOptions     *struct{} `json:"payment_method_options"`
		PaymentMethodTypes       []string  `json:"payment_method_types"`
		SaveDefaultPaymentMethod string    `json:"save_default_payment_method"`
	} `json:"payment_settings"`
	PendingInvoiceItemInterval *struct{} `json:"pending_invoice_item_interval"`
	PendingSetupIntent         *string   `json:"pending_setup_intent"`
	PendingUpdate              *struct{} `json:"pending_update"`
	Schedule                   *string   `json:"schedule"`
	StartDate                  int64     `json:"start_date"`
	Status                     string    `json:"status"`
	TestClock                  *string   `json:"test_clock"`
	TransferData               *struct{} `json:"transfer_data"`
	TrialEnd                   *int64    `json:"trial_end"`
	TrialSettings              struct {
		EndBehavior struct {
			MissingPaymentMethod string `json:"missing_payment_method"`
		} `json:"end_behavior"`
	} `json:"trial_settings"`
	TrialStart *int64 `json:"trial_start"`
}

type accountRef struct {
	Type string `json:"type"`
}

type cancellationDetails struct {
	Comment  *string `json:"comment"`
	Feedback *string `json:"feedback"`
	Reason   *string `json:"reason"`
}

// SubscriptionItems is a subscription's items, as the list Stripe embeds.
type SubscriptionItems struct {
	Object     string             `json:"object"`
	Data       []SubscriptionItem `json:"data"`
	HasMore    bool               `json:"has_more"`
	TotalCount int64              `json:"total_count"`
	URL        string             `json:"url"`
}

// SubscriptionItem is one price a subscription bills for, with the current
// period (on the items since API version 2025-03-31.basil).
type SubscriptionItem struct {
	ID                 string     `json:"id"`
	Object             string     `json:"object"`
	BillingThresholds  *struct{}  `json:"billing_thresholds"`
	Created            int64      `json:"created"`
	CurrentPeriodEnd   int64      `json:"current_period_end"`
	CurrentPeriodStart int64      `json:"current_period_start"`
	Discounts          []string   `json:"discounts"`
	Metadata           Metadata   `json:"metadata"`
	Price              *Price     `json:"price"`
	Quantity           int64      `json:"quantity"`
	Subscription       string     `json:"subscription"`
	TaxRates           []struct{} `json:"tax_rates"`
}

// period is the subscription's current period.
func (sub *Subscription) period() (start, end int64) {
	return sub.Items.Data[0].CurrentPeriodStart, sub.Items.Data[0].CurrentPeriodEnd
}

// ended reports whether the subscription has ended for good.
func (sub *Subscription) ended() bool {
	return sub.Status == "canceled" || sub.Status == "incomplete_expired"
}

// newSubscription starts a subscription, incomplete until its first invoice
// is paid, for the session's line items.
func (t *txn) newSubscription(cu *Customer, cs *CheckoutSession, pm string) *Subscription {
	now := t.now.Unix()
	sub := &Subscription{
		meta:                 meta{ID: newID("sub"), Object: "subscription", Created: now},
		BillingCycleAnchor:   now,
		BillingSchedules:     []struct{}{},
		CollectionMethod:     "charge_automatically",
		Currency:             cs.Currency,
		Customer:             cu.ID,
		DefaultPaymentMethod: &pm,
		DefaultTaxRates:      []struct{}{},
		Discounts:            []string{},
		Metadata:             Metadata{},
		StartDate:            now,
		Status:               "incomplete",
		TestClock:            cu.TestClock,
	}
	sub.BillingMode.Type = "classic"
	sub.InvoiceSettings.Issuer.Type = "self"
	sub.PaymentSettings.SaveDefaultPaymentMethod = "off"
	sub.TrialSettings.EndBehavior.MissingPaymentMethod = "create_invoice"
	sub.Items = SubscriptionItems{Object: "list", Data: []SubscriptionItem{}, URL: "/v1/subscription_items?subscription=" + sub.ID}
	for _, li := range cs.LineItems {
		sub.Items.Data = append(sub.Items.Data, SubscriptionItem{
			ID: newID("si"), Object: "subscription_item", Created: now,
			CurrentPeriodStart: now, CurrentPeriodEnd: periodEnd(now, li.Price.Recurring, 1),
			Discounts: []string{}, Metadata: Metadata{}, Price: li.Price, Quantity: li.Quantity,
			Subscription: sub.ID, TaxRates: []struct{}{},
		})
	}
	sub.Items.TotalCount = int64(len(sub.Items.Data))
	if d := cs.SubscriptionData; d != nil {
		mergeMetadata(&sub.Metadata, d.Metadata)
		sub.Description = d.Description
	}
	t.put(sub)
	return sub
}

// periodEnd is the end of the nth period after anchor, as Stripe counts
// months: a subscription anchored on the 31st renews on the last day of
// shorter months and returns to the 31st after.
func periodEnd(anchor int64, r *Recurring, n int64) int64 {
	a := time.Unix(anchor, 0).UTC()
	count := max(r.IntervalCount, 1) * n
	switch r.Interval {
	case "day":
		return a.AddDate(0, 0, int(count)).Unix()
	case "week":
		return a.AddDate(0, 0, 7*int(count)).Unix()
	case "year":
		count *= 12
	}
	first := time.Date(a.Year(), a.Month()+time.Month(count), 1, a.Hour(), a.Minute(), a.Second(), 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(a.Day(), last)-1).Unix()
}

// nextPeriodEnd is the end of the period after the one ending at end.
func (sub *Subscription) nextPeriodEnd(item SubscriptionItem) int64 {
	for n := int64(1); ; n++ {
		if e := periodEnd(sub.BillingCycleAnchor, item.Price.Recurring, n); e > item.CurrentPeriodEnd {
			return e
		}
	}
}

// endPeriod is what happens when a subscription's period ends: a
// subscription cancelled at period end ends; any other renews, with an
// invoice for the new period charged to its payment method.
func (t *txn) endPeriod(sub *Subscription) {
	if sub.CancelAtPeriodEnd {
		t.cancelSubscription(sub, "cancellation_requested")
		return
	}
	before := t.s.render(sub)
	oldStart, oldEnd := sub.period()
	for i := range sub.Items.Data {
		it := &sub.Items.Data[i]
		it.CurrentPeriodStart, it.CurrentPeriodEnd = it.CurrentPeriodEnd, sub.nextPeriodEnd(*it)
	}
	inv := t.newInvoice(sub, "subscription_cycle", oldStart, oldEnd)
	sub.LatestInvoice = &inv.ID
	t.changed("customer.subscription.updated", sub, before)
	t.emit("invoice.created", inv, nil)
	t.finalizeInvoice(inv)
	if sub.Status == "unpaid" {
		// Stripe leaves an unpaid subscription's invoices for the
		// customer to pay; it makes no attempt.
		inv.AutoAdvance = false
		t.put(inv)
		return
	}
	t.attemptInvoice(inv, nil, true)
}

// cancelSubscription ends a subscription now. Its open invoices are no
// longer retried.
func (t *txn) cancelSubscription(sub *Subscription, reason string) {
	now := t.now.Unix()
	sub.Status = "canceled"
	if sub.CanceledAt == nil || !sub.CancelAtPeriodEnd {
		sub.CanceledAt = &now
	}
	sub.EndedAt = &now
	sub.CancelAt = nil
	sub.CancellationDetails.Reason = &reason
	t.put(sub)
	for _, id := range t.s.byType["invoice"] {
		inv := t.s.objects[id].(*Invoice)
		if inv.Subscription == sub.ID && inv.NextPaymentAttempt != nil {
			inv.NextPaymentAttempt = nil
			inv.AutoAdvance = false
			t.put(inv)
		}
	}
	t.emit("customer.subscription.deleted", sub, nil)
}

// setCancelAtPeriodEnd schedules the subscription to end when its period
// does, or undoes that.
func (sub *Subscription) setCancelAtPeriodEnd(cancel bool, now time.Time) {
	if sub.CancelAtPeriodEnd == cancel {
		return
	}
	sub.CancelAtPeriodEnd = cancel
	if cancel {
		_, end := sub.period()
		sub.CanceledAt, sub.CancelAt = ptr(now.Unix()), &end
		sub.CancellationDetails.Reason = ptr("cancellation_requested")
		return
	}
	sub.CanceledAt, sub.CancelAt = nil, nil
	sub.CancellationDetails.Reason = nil
}

// subscriptionPaid makes a subscription whose latest invoice was paid
// active again.
func (t *txn) subscriptionPaid(sub *Subscription, inv *Invoice) {
	if deref(sub.LatestInvoice) != inv.ID || sub.ended() || sub.Status == "active" {
		return
	}
	before := t.s.render(sub)
	sub.Status = "active"
	t.changed("customer.subscription.updated", sub, before)
}

func (s *Sandbox) listSubscriptions(c *call) (any, error) {
	var p struct {
		listParams
		Customer         *string `form:"customer"`
		Price            *string `form:"price"`
		Status           *string `form:"status" enum:"active|all|canceled|ended|incomplete|incomplete_expired|past_due|paused|trialing|unpaid"`
		TestClock        *string `form:"test_clock"`
		CollectionMethod *string `form:"collection_method" enum:"charge_automatically|send_invoice"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("subscription", "/v1/subscriptions", p.listParams, func(o Object) bool {
		sub := o.(*Subscription)
		status := deref(p.Status)
		switch {
		case status == "" && sub.Status == "canceled",
			status == "ended" && !sub.ended(),
			status != "" && status != "all" && status != "ended" && sub.Status != status:
			return false
		}
		return (p.Customer == nil || sub.Customer == *p.Customer) &&
			(p.TestClock == nil || deref(sub.TestClock) == *p.TestClock) &&
			(p.CollectionMethod == nil || sub.CollectionMethod == *p.CollectionMethod) &&
			(p.Price == nil || slices.ContainsFunc(sub.Items.Data, func(it SubscriptionItem) bool { return it.Price.ID == *p.Price }))
	})
}

func (s *Sandbox) updateSubscription(c *call) (any, error) {
	var p struct {
		CancelAtPeriodEnd    *bool             `form:"cancel_at_period_end"`
		DefaultPaymentMethod *string           `form:"default_payment_method"`
		Description          *string           `form:"description"`
		Metadata             map[string]string `form:"metadata"`
		CancellationDetails  *struct {
			Comment  *string `form:"comment"`
			Feedback *string `form:"feedback" enum:"customer_service|low_quality|missing_features|other|switched_service|too_complex|too_expensive|unused"`
		} `form:"cancellation_details"`
		ProrationBehavior *string  `form:"proration_behavior" enum:"always_invoice|create_prorations|none"`
		Expand            []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	sub, err := get[*Subscription](s, c.r.PathValue("id"), "subscription", "id")
	if err != nil {
		return nil, err
	}
	if sub.ended() && (p.CancelAtPeriodEnd != nil || p.DefaultPaymentMethod != nil || p.Description != nil) {
		return nil, invalidRequest("", "A canceled subscription can only update its cancellation_details and metadata.")
	}
	if p.DefaultPaymentMethod != nil && *p.DefaultPaymentMethod != "" {
		pm, ok := s.objects[*p.DefaultPaymentMethod].(*PaymentMethod)
		if !ok || deref(pm.Customer) != sub.Customer {
			return nil, invalidRequest("default_payment_method", "The customer does not have a payment method with the ID %s. The payment method must be attached to the customer.", *p.DefaultPaymentMethod)
		}
	}
	before := s.render(sub)
	if p.CancelAtPeriodEnd != nil {
		c.t.now = s.timeOn(sub.TestClock)
		sub.setCancelAtPeriodEnd(*p.CancelAtPeriodEnd, c.t.now)
	}
	if p.DefaultPaymentMethod != nil {
		sub.DefaultPaymentMethod = optional(*p.DefaultPaymentMethod)
	}
	if p.Description != nil {
		sub.Description = optional(*p.Description)
	}
	if d := p.CancellationDetails; d != nil {
		if d.Comment != nil {
			sub.CancellationDetails.Comment = optional(*d.Comment)
		}
		if d.Feedback != nil {
			sub.CancellationDetails.Feedback = optional(*d.Feedback)
		}
	}
	mergeMetadata(&sub.Metadata, p.Metadata)
	c.t.changed("customer.subscription.updated", sub, before)
	return c.object(sub)
}

// deleteSubscription cancels a subscription at once, as
// DELETE /v1/subscriptions/{id} does: no refund, no final invoice.
func (s *Sandbox) deleteSubscription(c *call) (any, error) {
	var p struct {
		InvoiceNow          *bool `form:"invoice_now"`
		Prorate             *bool `form:"prorate"`
		CancellationDetails *struct {
			Comment  *string `form:"comment"`
			Feedback *string `form:"feedback" enum:"customer_service|low_quality|missing_features|other|switched_service|too_complex|too_expensive|unused"`
		} `form:"cancellation_details"`
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	sub, err := get[*Subscription](s, c.r.PathValue("id"), "subscription", "id")
	if err != nil {
		return nil, err
	}
	if sub.ended() {
		return nil, invalidRequest("", "This subscription has already been canceled (%s).", sub.ID)
	}
	if deref(p.InvoiceNow) || deref(p.Prorate) {
		return nil, invalidRequest("invoice_now", "The paidup sandbox does not prorate or invoice at cancellation; cancel without invoice_now and prorate.")
	}
	if d := p.CancellationDetails; d != nil {
		sub.CancellationDetails.Comment = optional(deref(d.Comment))
		sub.CancellationDetails.Feedback = optional(deref(d.Feedback))
	}
	sub.CancelAtPeriodEnd = false
	c.t.cancelSubscription(sub, "cancellation_requested")
	return c.object(sub)
}

// resumeSubscription would resume a paused subscription. The sandbox never
// pauses one, so it always refuses, as Stripe refuses for any other status.
func (s *Sandbox) resumeSubscription(c *call) (any, error) {
	var p struct {
		BillingCycleAnchor *string  `form:"billing_cycle_anchor" enum:"now|unchanged"`
		ProrationBehavior  *string  `form:"proration_behavior" enum:"always_invoice|create_prorations|none"`
		ProrationDate      *int64   `form:"proration_date"`
		Expand             []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	sub, err := get[*Subscription](s, c.r.PathValue("id"), "subscription", "subscription")
	if err != nil {
		return nil, err
	}
	return nil, invalidRequest("", "Only a paused subscription can be resumed; %s is %s (the paidup sandbox does not pause subscriptions).", sub.ID, sub.Status)
}

// paySubscription completes a subscription-mode checkout session: the
// customer (made if the session has none) gets the card as a payment
// method, and a subscription whose first invoice the card pays. A card
// that would be declined changes nothing and returns the card_error, as
// Checkout refuses it before creating anything.
func (t *txn) paySubscription(cs *CheckoutSession, cd card, email, name string) error {
	if d := cd.chargeDecline(); d != "" {
		e := cardError(d, "")
		return &apiError{status: http.StatusPaymentRequired, body: *e}
	}
	var cu *Customer
	if cs.Customer != nil {
		cu = t.s.objects[*cs.Customer].(*Customer)
	} else {
		cu = t.newCustomer(email, name)
		t.emit("customer.created", cu, nil)
	}
	// The subscription lives by its customer's clock.
	sessionTime := t.now
	t.now = t.s.timeOn(cu.TestClock)
	pm := t.newPaymentMethod(cd, email, name, &cu.ID)
	t.emit("payment_method.attached", pm, nil)
	sub := t.newSubscription(cu, cs, pm.ID)
	start, _ := sub.period()
	inv := t.newInvoice(sub, "subscription_create", start, start)
	sub.LatestInvoice = &inv.ID
	t.emit("customer.subscription.created", sub, nil)
	t.emit("invoice.created", inv, nil)
	t.finalizeInvoice(inv)
	err := t.attemptInvoice(inv, pm, false)
	t.now = sessionTime
	if err != nil {
		return err
	}
	cs.Status, cs.PaymentStatus, cs.Customer = "complete", "paid", &cu.ID
	cs.Subscription, cs.Invoice = &sub.ID, &inv.ID
	cs.CustomerDetails = &SessionCustomerDetails{Email: optional(email), Name: optional(name), TaxExempt: "none", TaxIDs: []struct{}{}}
	cs.URL = nil
	t.put(cs)
	t.emit("checkout.session.completed", cs, nil)
	return nil
}
