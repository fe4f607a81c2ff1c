package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Dunning is what the sandbox does when a renewal's payment fails, as the
// "Manage failed payments" settings of Stripe's Dashboard say.
type Dunning struct {
	// Retries are when a failed renewal is charged again, counted from
	// its first failure. The default is Stripe's recommended eight tries
	// within two weeks: the first, then 1, 3, 5, 7, 9, 11 and 13 days after.
	Retries []time.Duration
	// Then is what becomes of the subscription when the last try fails:
	// DunningCancel (the default, as Stripe's), DunningUnpaid or
	// DunningPastDue.
	Then string
	// MarkUncollectible marks the invoice uncollectible when the last try
	// fails; by default it stays open (past due), as Stripe's default.
	MarkUncollectible bool
}

// What a subscription becomes when its last payment retry fails.
const (
	DunningCancel  = "cancel"   // canceled, with customer.subscription.deleted
	DunningUnpaid  = "unpaid"   // unpaid: later invoices are left for the customer to pay
	DunningPastDue = "past_due" // left past_due
)

func (d Dunning) withDefaults() Dunning {
	if d.Retries == nil {
		for _, day := range []int{1, 3, 5, 7, 9, 11, 13} {
			d.Retries = append(d.Retries, time.Duration(day)*24*time.Hour)
		}
	}
	if d.Then == "" {
		d.Then = DunningCancel
	}
	return d
}

// Invoice is a Stripe invoice: what a customer owes for a subscription's
// period, and its payment.
type Invoice struct {
	meta
	AccountCountry           *string        `json:"account_country"`
	AccountName              *string        `json:"account_name"`
	AccountTaxIDs            []string       `json:"account_tax_ids"`
	AmountDue                int64          `json:"amount_due"`
	AmountOverpaid           int64          `json:"amount_overpaid"`
	AmountPaid               int64          `json:"amount_paid"`
	AmountPaidOffStripe      int64          `json:"amount_paid_off_stripe"`
	AmountRemaining          int64          `json:"amount_remaining"`
	AmountShipping           int64          `json:"amount_shipping"`
	Application              *string        `json:"application"`
	AttemptCount             int64          `json:"attempt_count"`
	Attempted                bool           `json:"attempted"`
	AutoAdvance              bool           `json:"auto_advance"`
	AutomaticTax             automaticTax   `json:"automatic_tax"`
	AutomaticallyFinalizesAt *int64         `json:"automatically_finalizes_at"`
	BillingReason            *string        `json:"billing_reason"`
	CollectionMethod         string         `json:"collection_method"`
	ConfirmationSecret       *struct{}      `json:"confirmation_secret"`
	Currency                 string         `json:"currency"`
	CustomFields             []struct{}     `json:"custom_fields"`
	Customer                 string         `json:"customer"`
	CustomerAddress          *Address       `json:"customer_address"`
	CustomerEmail            *string        `json:"customer_email"`
	CustomerName             *string        `json:"customer_name"`
	CustomerPhone            *string        `json:"customer_phone"`
	CustomerShipping         *struct{}      `json:"customer_shipping"`
	CustomerTaxExempt        *string        `json:"customer_tax_exempt"`
	CustomerTaxIDs           []struct{}     `json:"customer_tax_ids"`
	DefaultPaymentMethod     *string        `json:"default_payment_method"`
	DefaultSource            *string        `json:"default_source"`
	DefaultTaxRates          []struct{}     `json:"default_tax_rates"`
	Description              *string        `json:"description"`
	Discounts                []string       `json:"discounts"`
	DueDate                  *int64         `json:"due_date"`
	EffectiveAt              *int64         `json:"effective_at"`
	EndingBalance            *int64         `json:"ending_balance"`
	Footer                   *string        `json:"footer"`
	FromInvoice              *struct{}      `json:"from_invoice"`
	HostedInvoiceURL         *string        `json:"hosted_invoice_url"`
	InvoicePDF               *string        `json:"invoice_pdf"`
	Issuer                   accountRef     `json:"issuer"`
	LastFinalizationError    *struct{}      `json:"last_finalization_error"`
	LatestRevision           *string        `json:"latest_revision"`
	Lines                    invoiceLines   `json:"lines"`
	Metadata                 Metadata       `json:"metadata"`
	NextPaymentAttempt       *int64         `json:"next_payment_attempt"`
	Number                   *string        `json:"number"`
	OnBehalfOf               *string        `json:"on_behalf_of"`
	Parent                   *invoiceParent `json:"parent"`
	PaymentSettings          struct {
		DefaultMandate       *string   `json:"default_mandate"`
		PaymentMethodOptions *struct{} `json:"payment_method_options"`
		PaymentMethodTypes   []string  `json:"payment_method_types"`
	} `json:"payment_settings"`
	PeriodEnd                    int64     `json:"period_end"`
	PeriodStart                  int64     `json:"period_start"`
	PostPaymentCreditNotesAmount int64     `json:"post_payment_credit_notes_amount"`
	PrePaymentCreditNotesAmount  int64     `json:"pre_payment_credit_notes_amount"`
	ReceiptNumber                *string   `json:"receipt_number"`
	Rendering                    *struct{} `json:"rendering"`
	ShippingCost                 *struct{} `json:"shipping_cost"`
	ShippingDetails              *struct{} `json:"shipping_details"`
	StartingBalance              int64     `json:"starting_balance"`
	StatementDescriptor          *string   `json:"statement_descriptor"`
	Status                       string    `json:"status"`
	StatusTransitions            struct {
		FinalizedAt           *int64 `json:"finalized_at"`
		MarkedUncollectibleAt *int64 `json:"marked_uncollectible_at"`
		PaidAt                *int64 `json:"paid_at"`
		VoidedAt              *int64 `json:"voided_at"`
	} `json:"status_transitions"`
	Subtotal                 int64      `json:"subtotal"`
	SubtotalExcludingTax     *int64     `json:"subtotal_excluding_tax"`
	TestClock                *string    `json:"test_clock"`
	Total                    int64      `json:"total"`
	TotalDiscountAmounts     []struct{} `json:"total_discount_amounts"`
	TotalExcludingTax        *int64     `json:"total_excluding_tax"`
	TotalPretaxCreditAmounts []struct{} `json:"total_pretax_credit_amounts"`
	TotalTaxes               []struct{} `json:"total_taxes"`
	WebhooksDeliveredAt      *int64     `json:"webhooks_delivered_at"`

	// Payments are shown only when expanded (expand[]=payments), as
	// Stripe includes them.
	Payments []InvoicePayment `json:"_payments,omitempty"`
	// Subscription is the subscription it bills, also named in Parent.
	Subscription string `json:"_subscription,omitempty"`
	// FirstFailedAt is when its first automatic payment failed: retries
	// are scheduled from it. AutoAttempts counts automatic tries.
	FirstFailedAt int64 `json:"_first_failed_at,omitempty"`
	AutoAttempts  int   `json:"_auto_attempts,omitempty"`
}

type invoiceLines struct {
	Object     string        `json:"object"`
	Data       []InvoiceLine `json:"data"`
	HasMore    bool          `json:"has_more"`
	TotalCount int64         `json:"total_count"`
	URL        string        `json:"url"`
}

// InvoiceLine is one line of an invoice: a subscription item for a period.
type InvoiceLine struct {
	ID              string      `json:"id"`
	Object          string      `json:"object"`
	Amount          int64       `json:"amount"`
	Currency        string      `json:"currency"`
	Description     *string     `json:"description"`
	DiscountAmounts []struct{}  `json:"discount_amounts"`
	Discountable    bool        `json:"discountable"`
	Discounts       []string    `json:"discounts"`
	Invoice         *string     `json:"invoice"`
	Livemode        bool        `json:"livemode"`
	Metadata        Metadata    `json:"metadata"`
	Parent          *lineParent `json:"parent"`
	Period          struct {
		End   int64 `json:"end"`
		Start int64 `json:"start"`
	} `json:"period"`
	PretaxCreditAmounts []struct{} `json:"pretax_credit_amounts"`
	Pricing             *struct {
		PriceDetails struct {
			Price   string `json:"price"`
			Product string `json:"product"`
		} `json:"price_details"`
		Type              string  `json:"type"`
		UnitAmountDecimal *string `json:"unit_amount_decimal"`
	} `json:"pricing"`
	Quantity *int64     `json:"quantity"`
	Subtotal int64      `json:"subtotal"`
	Taxes    []struct{} `json:"taxes"`
}

type lineParent struct {
	InvoiceItemDetails      *struct{} `json:"invoice_item_details"`
	SubscriptionItemDetails *struct {
		InvoiceItem      *string   `json:"invoice_item"`
		Proration        bool      `json:"proration"`
		ProrationDetails *struct{} `json:"proration_details"`
		Subscription     *string   `json:"subscription"`
		SubscriptionItem string    `json:"subscription_item"`
	} `json:"subscription_item_details"`
	Type string `json:"type"`
}

type invoiceParent struct {
	QuoteDetails        *struct{} `json:"quote_details"`
	SubscriptionDetails *struct {
		Metadata     Metadata `json:"metadata"`
		Subscription string   `json:"subscription"`
	} `json:"subscription_details"`
	Type string `json:"type"`
}

// InvoicePayment is a payment toward an invoice, in the shape of API
// versions since 2025-03-31.basil.
type InvoicePayment struct {
	ID              string `json:"id"`
	Object          string `json:"object"`
	AmountPaid      *int64 `json:"amount_paid"`
	AmountRequested int64  `json:"amount_requested"`
	Created         int64  `json:"created"`
	Currency        string `json:"currency"`
	Invoice         string `json:"invoice"`
	IsDefault       bool   `json:"is_default"`
	Livemode        bool   `json:"livemode"`
	Payment         struct {
		PaymentIntent string `json:"payment_intent"`
		Type          string `json:"type"`
	} `json:"payment"`
	Status            string `json:"status"`
	StatusTransitions struct {
		CanceledAt *int64 `json:"canceled_at"`
		PaidAt     *int64 `json:"paid_at"`
	} `json:"status_transitions"`
}

// invoicePaymentList is an invoice's payments, as expand[]=payments shows
// them.
func (s *Sandbox) invoicePaymentList(inv *Invoice) map[string]any {
	data := make([]any, 0, len(inv.Payments))
	for _, p := range inv.Payments {
		data = append(data, s.render(p))
	}
	return map[string]any{"object": "list", "data": data, "has_more": false, "url": "/v1/invoice_payments"}
}

// paymentIntent is the payment intent that collects the invoice.
func (inv *Invoice) paymentIntent() string {
	if len(inv.Payments) == 0 {
		return ""
	}
	return inv.Payments[0].Payment.PaymentIntent
}

// newInvoice drafts an invoice for a subscription's current period. As on
// Stripe, the invoice's own period_start and period_end are the period
// that ended (the creation time, for a subscription's first invoice); its
// lines carry the period paid for.
func (t *txn) newInvoice(sub *Subscription, reason string, periodStart, periodEnd int64) *Invoice {
	now := t.now.Unix()
	cu, _ := t.s.objects[sub.Customer].(*Customer)
	inv := &Invoice{
		meta:                     meta{ID: newID("in"), Object: "invoice", Created: now},
		AccountCountry:           ptr("US"),
		AccountName:              ptr(t.s.opts.Business),
		AutoAdvance:              true,
		BillingReason:            &reason,
		CollectionMethod:         "charge_automatically",
		Currency:                 sub.Currency,
		Customer:                 sub.Customer,
		CustomerTaxIDs:           []struct{}{},
		DefaultTaxRates:          []struct{}{},
		Discounts:                []string{},
		Metadata:                 Metadata{},
		PeriodEnd:                periodEnd,
		PeriodStart:              periodStart,
		Status:                   "draft",
		Subscription:             sub.ID,
		TestClock:                sub.TestClock,
		TotalDiscountAmounts:     []struct{}{},
		TotalPretaxCreditAmounts: []struct{}{},
		TotalTaxes:               []struct{}{},
	}
	inv.Issuer.Type = "self"
	if cu != nil {
		inv.CustomerEmail, inv.CustomerName, inv.CustomerTaxExempt = cu.Email, cu.Name, ptr(cu.TaxExempt)
	}
	inv.Parent = &invoiceParent{Type: "subscription_details"}
	inv.Parent.SubscriptionDetails = &struct {
		Metadata     Metadata `json:"metadata"`
		Subscription string   `json:"subscription"`
	}{Metadata: Metadata(cloneMap(sub.Metadata)), Subscription: sub.ID}
	inv.Lines = invoiceLines{Object: "list", Data: []InvoiceLine{}, URL: "/v1/invoices/" + inv.ID + "/lines"}
	for _, it := range sub.Items.Data {
		amount := deref(it.Price.UnitAmount) * it.Quantity
		name := it.Price.Product
		if pr, ok := t.s.objects[it.Price.Product].(*Product); ok {
			name = pr.Name
		}
		line := InvoiceLine{
			ID: newID("il"), Object: "line_item", Amount: amount, Currency: it.Price.Currency,
			Description:     ptr(fmt.Sprintf("%d × %s (at %s / %s)", it.Quantity, name, money(deref(it.Price.UnitAmount), it.Price.Currency), it.Price.Recurring.Interval)),
			DiscountAmounts: []struct{}{}, Discountable: true, Discounts: []string{}, Invoice: &inv.ID,
			Metadata: Metadata{}, PretaxCreditAmounts: []struct{}{}, Quantity: ptr(it.Quantity), Subtotal: amount, Taxes: []struct{}{},
		}
		line.Period.Start, line.Period.End = it.CurrentPeriodStart, it.CurrentPeriodEnd
		line.Parent = &lineParent{Type: "subscription_item_details"}
		line.Parent.SubscriptionItemDetails = &struct {
			InvoiceItem      *string   `json:"invoice_item"`
			Proration        bool      `json:"proration"`
			ProrationDetails *struct{} `json:"proration_details"`
			Subscription     *string   `json:"subscription"`
			SubscriptionItem string    `json:"subscription_item"`
		}{Subscription: &sub.ID, SubscriptionItem: it.ID}
		line.Pricing = &struct {
			PriceDetails struct {
				Price   string `json:"price"`
				Product string `json:"product"`
			} `json:"price_details"`
			Type              string  `json:"type"`
			UnitAmountDecimal *string `json:"unit_amount_decimal"`
		}{Type: "price_details", UnitAmountDecimal: it.Price.UnitAmountDecimal}
		line.Pricing.PriceDetails.Price, line.Pricing.PriceDetails.Product = it.Price.ID, it.Price.Product
		inv.Lines.Data = append(inv.Lines.Data, line)
		inv.Subtotal += amount
	}
	inv.Lines.TotalCount = int64(len(inv.Lines.Data))
	inv.Total, inv.AmountDue, inv.AmountRemaining = inv.Subtotal, inv.Subtotal, inv.Subtotal
	inv.SubtotalExcludingTax, inv.TotalExcludingTax = ptr(inv.Subtotal), ptr(inv.Subtotal)
	t.put(inv)
	return inv
}

// finalizeInvoice makes a draft invoice open, with a number and a payment
// intent to collect it.
func (t *txn) finalizeInvoice(inv *Invoice) {
	now := t.now.Unix()
	if cu, ok := t.s.objects[inv.Customer].(*Customer); ok {
		inv.Number = ptr(fmt.Sprintf("%s-%04d", cu.InvoicePrefix, cu.NextInvoiceSeq))
		cu.NextInvoiceSeq++
		t.put(cu)
	}
	inv.Status = "open"
	inv.StatusTransitions.FinalizedAt = &now
	inv.EffectiveAt = &now
	inv.EndingBalance = ptr(int64(0))
	pi := t.newPaymentIntent(inv.AmountDue, inv.Currency, &inv.Customer)
	pi.Description = ptr("Subscription update")
	if deref(inv.BillingReason) == "subscription_create" {
		pi.Description = ptr("Subscription creation")
	}
	pay := InvoicePayment{
		ID: newID("inpay"), Object: "invoice_payment", AmountRequested: inv.AmountDue, Created: now,
		Currency: inv.Currency, Invoice: inv.ID, IsDefault: true, Status: "open",
	}
	pay.Payment.Type, pay.Payment.PaymentIntent = "payment_intent", pi.ID
	inv.Payments = []InvoicePayment{pay}
	t.put(inv)
	t.emit("invoice.finalized", inv, nil)
	t.emit("payment_intent.created", pi, nil)
}

// paymentMethodFor is the payment method an invoice is charged to: the
// subscription's default, else the customer's.
func (s *Sandbox) paymentMethodFor(inv *Invoice) *PaymentMethod {
	if sub, ok := s.objects[inv.Subscription].(*Subscription); ok && sub.DefaultPaymentMethod != nil {
		if pm, ok := s.objects[*sub.DefaultPaymentMethod].(*PaymentMethod); ok && deref(pm.Customer) == inv.Customer {
			return pm
		}
	}
	if cu, ok := s.objects[inv.Customer].(*Customer); ok && cu.InvoiceSettings.DefaultPaymentMethod != nil {
		if pm, ok := s.objects[*cu.InvoiceSettings.DefaultPaymentMethod].(*PaymentMethod); ok && deref(pm.Customer) == inv.Customer {
			return pm
		}
	}
	return nil
}

var errNoPaymentMethod = errors.New("no payment method")

// attemptInvoice charges an open invoice to pm, or to its default payment
// method. automatic marks the sandbox's own tries, which schedule the
// next retry when they fail. A decline returns the card_error.
func (t *txn) attemptInvoice(inv *Invoice, pm *PaymentMethod, automatic bool) error {
	if pm == nil {
		pm = t.s.paymentMethodFor(inv)
	}
	inv.AttemptCount++
	inv.Attempted = true
	if automatic {
		inv.AutoAttempts++
	}
	pi, _ := t.s.objects[inv.paymentIntent()].(*PaymentIntent)
	var err error
	switch {
	case pi == nil:
		err = errors.New("invoice without a payment intent")
	case pm == nil:
		err = errNoPaymentMethod
	default:
		_, err = t.charge(pi, pm, testCardOf(pm))
	}
	if err == nil {
		t.invoicePaid(inv)
		return nil
	}
	t.invoiceFailed(inv, automatic)
	return err
}

func (t *txn) invoicePaid(inv *Invoice) {
	now := t.now.Unix()
	inv.Status = "paid"
	inv.AmountPaid, inv.AmountRemaining = inv.AmountDue, 0
	inv.StatusTransitions.PaidAt = &now
	inv.NextPaymentAttempt = nil
	inv.AutoAdvance = false
	if len(inv.Payments) > 0 {
		inv.Payments[0].Status = "paid"
		inv.Payments[0].AmountPaid = ptr(inv.AmountDue)
		inv.Payments[0].StatusTransitions.PaidAt = &now
	}
	t.put(inv)
	t.emit("invoice.paid", inv, nil)
	t.emit("invoice.payment_succeeded", inv, nil)
	if sub, ok := t.s.objects[inv.Subscription].(*Subscription); ok {
		t.subscriptionPaid(sub, inv)
	}
}

// invoiceFailed records a failed try: the next automatic retry is
// scheduled, or, after the last, the dunning settings decide.
func (t *txn) invoiceFailed(inv *Invoice, automatic bool) {
	d := t.s.opts.Dunning
	exhausted := false
	if automatic {
		if inv.FirstFailedAt == 0 {
			inv.FirstFailedAt = t.now.Unix()
		}
		if n := inv.AutoAttempts - 1; n < len(d.Retries) {
			next := time.Unix(inv.FirstFailedAt, 0).Add(d.Retries[n]).Unix()
			inv.NextPaymentAttempt = &next
		} else {
			inv.NextPaymentAttempt, exhausted = nil, true
		}
	}
	t.put(inv)
	t.emit("invoice.payment_failed", inv, nil)
	sub, _ := t.s.objects[inv.Subscription].(*Subscription)
	if sub != nil && !sub.ended() && deref(sub.LatestInvoice) == inv.ID && sub.Status == "active" {
		before := t.s.render(sub)
		sub.Status = "past_due"
		t.changed("customer.subscription.updated", sub, before)
	}
	if !exhausted {
		return
	}
	if d.MarkUncollectible {
		now := t.now.Unix()
		inv.Status = "uncollectible"
		inv.AutoAdvance = false
		inv.StatusTransitions.MarkedUncollectibleAt = &now
		t.put(inv)
		t.emit("invoice.marked_uncollectible", inv, nil)
	}
	if sub == nil || sub.ended() {
		return
	}
	switch d.Then {
	case DunningCancel:
		t.cancelSubscription(sub, "payment_failed")
	case DunningUnpaid:
		before := t.s.render(sub)
		sub.Status = "unpaid"
		t.changed("customer.subscription.updated", sub, before)
	}
}

// retryInvoice is an automatic retry falling due.
func (t *txn) retryInvoice(inv *Invoice) {
	if inv.Status != "open" {
		inv.NextPaymentAttempt = nil
		t.put(inv)
		return
	}
	t.attemptInvoice(inv, nil, true)
}

func (s *Sandbox) listInvoices(c *call) (any, error) {
	var p struct {
		listParams
		Customer         *string `form:"customer"`
		Subscription     *string `form:"subscription"`
		Status           *string `form:"status" enum:"draft|open|paid|uncollectible|void"`
		CollectionMethod *string `form:"collection_method" enum:"charge_automatically|send_invoice"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("invoice", "/v1/invoices", p.listParams, func(o Object) bool {
		inv := o.(*Invoice)
		return (p.Customer == nil || inv.Customer == *p.Customer) &&
			(p.Subscription == nil || inv.Subscription == *p.Subscription) &&
			(p.Status == nil || inv.Status == *p.Status) &&
			(p.CollectionMethod == nil || inv.CollectionMethod == *p.CollectionMethod)
	})
}

// payInvoice charges an open (or uncollectible) invoice now, to the given
// payment method or its default one, as POST /v1/invoices/{id}/pay does.
func (s *Sandbox) payInvoice(c *call) (any, error) {
	var p struct {
		PaymentMethod *string  `form:"payment_method"`
		OffSession    *bool    `form:"off_session"`
		Expand        []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	inv, err := get[*Invoice](s, c.r.PathValue("id"), "invoice", "invoice")
	if err != nil {
		return nil, err
	}
	switch inv.Status {
	case "paid":
		return nil, invalidRequest("invoice", "Invoice is already paid")
	case "draft", "void":
		return nil, invalidRequest("invoice", "You can only pay an invoice that is open or uncollectible; this invoice is %s.", inv.Status)
	}
	var pm *PaymentMethod
	if p.PaymentMethod != nil {
		pm, _ = s.objects[*p.PaymentMethod].(*PaymentMethod)
		if pm == nil || deref(pm.Customer) != inv.Customer {
			return nil, invalidRequest("payment_method", "The PaymentMethod %s does not belong to the invoice's customer %s; attach it to the customer first.", *p.PaymentMethod, inv.Customer)
		}
	} else if pm = s.paymentMethodFor(inv); pm == nil {
		return nil, invalidRequest("", "This customer has no attached payment source or default payment method. Please consider adding a default payment method.")
	}
	uncollectible := inv.Status == "uncollectible"
	inv.Status = "open"
	if err := c.t.attemptInvoice(inv, pm, false); err != nil {
		if uncollectible {
			inv.Status = "uncollectible" // a declined payment leaves it as it was
			c.t.put(inv)
		}
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, &apiError{status: http.StatusInternalServerError, body: APIErrorBody{Type: "api_error", Message: err.Error()}}
	}
	return c.object(inv)
}
