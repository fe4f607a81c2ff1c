package stripe

import (
	"context"
	"errors"
	"time"

	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup"
)

// Subscription reads a subscription.
func (c *Client) Subscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	s, err := c.api.V1Subscriptions.Retrieve(ctx, id, nil)
	if err != nil {
		return paidup.ProcessorSubscription{}, wrap(err, "reading subscription %s", id)
	}
	return subscription(s), nil
}

// CancelSubscription cancels a subscription at once, without refund or a
// final invoice. Cancelling one that has already ended gives it back as it
// is, so that paidup may ask again after a crash.
func (c *Client) CancelSubscription(ctx context.Context, id string) (paidup.ProcessorSubscription, error) {
	p := &stripego.SubscriptionCancelParams{}
	p.SetIdempotencyKey("paidup-cancel-" + id)
	s, err := c.api.V1Subscriptions.Cancel(ctx, id, p)
	if err == nil {
		return subscription(s), nil
	}
	werr := wrap(err, "cancelling subscription %s", id)
	if !errors.Is(werr, errRefused) {
		return paidup.ProcessorSubscription{}, werr
	}
	cur, rerr := c.Subscription(ctx, id)
	if rerr == nil && cur.Status == paidup.SubscriptionCanceled {
		return cur, nil
	}
	return paidup.ProcessorSubscription{}, werr
}

// SetCancelAtPeriodEnd sets a subscription's cancel_at_period_end: the
// customer's cancellation at the end of the period they paid for, or its
// undoing. Asking twice for the same is harmless, so no idempotency key
// is needed (and one would refuse a cancel, resume, cancel again).
func (c *Client) SetCancelAtPeriodEnd(ctx context.Context, id string, cancel bool) (paidup.ProcessorSubscription, error) {
	s, err := c.api.V1Subscriptions.Update(ctx, id, &stripego.SubscriptionUpdateParams{CancelAtPeriodEnd: stripego.Bool(cancel)})
	if err != nil {
		what := "cancelling subscription %s at its period's end"
		if !cancel {
			what = "resuming subscription %s"
		}
		return paidup.ProcessorSubscription{}, wrap(err, what, id)
	}
	return subscription(s), nil
}

// Invoice reads an invoice with its payments.
func (c *Client) Invoice(ctx context.Context, id string) (paidup.ProcessorInvoice, error) {
	p := &stripego.InvoiceRetrieveParams{}
	p.AddExpand("payments")
	inv, err := c.api.V1Invoices.Retrieve(ctx, id, p)
	if err != nil {
		return paidup.ProcessorInvoice{}, wrap(err, "reading invoice %s", id)
	}
	return invoice(inv), nil
}

// ListInvoices lists invoices created in the range, with their payments.
func (c *Client) ListInvoices(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorInvoice) error) error {
	p := &stripego.InvoiceListParams{
		ListParams:   stripego.ListParams{Limit: stripego.Int64(100)},
		CreatedRange: createdRange(created),
	}
	p.AddExpand("data.payments")
	for inv, err := range c.api.V1Invoices.List(ctx, p) {
		if err != nil {
			return wrap(err, "listing invoices")
		}
		if err := fn(invoice(inv)); err != nil {
			return err
		}
	}
	return nil
}

// Dispute reads a dispute, with its charge for the customer.
func (c *Client) Dispute(ctx context.Context, id string) (paidup.ProcessorDispute, error) {
	p := &stripego.DisputeRetrieveParams{}
	p.AddExpand("charge")
	d, err := c.api.V1Disputes.Retrieve(ctx, id, p)
	if err != nil {
		return paidup.ProcessorDispute{}, wrap(err, "reading dispute %s", id)
	}
	return dispute(d), nil
}

// ListDisputes lists disputes created in the range.
func (c *Client) ListDisputes(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorDispute) error) error {
	p := &stripego.DisputeListParams{
		ListParams:   stripego.ListParams{Limit: stripego.Int64(100)},
		CreatedRange: createdRange(created),
	}
	p.AddExpand("data.charge")
	for d, err := range c.api.V1Disputes.List(ctx, p) {
		if err != nil {
			return wrap(err, "listing disputes")
		}
		if err := fn(dispute(d)); err != nil {
			return err
		}
	}
	return nil
}

// PortalURL opens a billing portal session for the customer.
func (c *Client) PortalURL(ctx context.Context, customerID, returnURL string) (string, error) {
	p := &stripego.BillingPortalSessionCreateParams{Customer: stripego.String(customerID)}
	if returnURL != "" {
		p.ReturnURL = stripego.String(returnURL)
	}
	s, err := c.api.V1BillingPortalSessions.Create(ctx, p)
	if err != nil {
		return "", wrap(err, "opening the billing portal for %s", customerID)
	}
	return s.URL, nil
}

// unix turns a Stripe timestamp into a time; 0 (unset) is the zero time.
func unix(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0).UTC()
}

func subscription(s *stripego.Subscription) paidup.ProcessorSubscription {
	sub := paidup.ProcessorSubscription{
		ID:                s.ID,
		Status:            string(s.Status),
		Reference:         s.Metadata[MetadataKey],
		CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		CanceledAt:        unix(s.CanceledAt),
		EndedAt:           unix(s.EndedAt),
		Created:           unix(s.Created),
	}
	if s.Customer != nil {
		sub.CustomerID = s.Customer.ID
	}
	if s.LatestInvoice != nil {
		sub.LatestInvoiceID = s.LatestInvoice.ID
	}
	if s.Items != nil {
		for i, it := range s.Items.Data {
			if i == 0 {
				sub.CurrentPeriodStart, sub.CurrentPeriodEnd = unix(it.CurrentPeriodStart), unix(it.CurrentPeriodEnd)
			}
			if it.Price != nil {
				sub.PriceIDs = append(sub.PriceIDs, it.Price.ID)
			}
		}
	}
	return sub
}

func invoice(inv *stripego.Invoice) paidup.ProcessorInvoice {
	out := paidup.ProcessorInvoice{
		ID:            inv.ID,
		CustomerEmail: inv.CustomerEmail,
		Status:        string(inv.Status),
		BillingReason: string(inv.BillingReason),
		Amount:        paidup.Money{Amount: inv.AmountDue, Currency: string(inv.Currency)},
		AttemptCount:  int(inv.AttemptCount),
		NextAttempt:   unix(inv.NextPaymentAttempt),
		Created:       unix(inv.Created),
	}
	if inv.Customer != nil {
		out.CustomerID = inv.Customer.ID
	}
	if p := inv.Parent; p != nil && p.SubscriptionDetails != nil && p.SubscriptionDetails.Subscription != nil {
		out.SubscriptionID = p.SubscriptionDetails.Subscription.ID
	}
	if inv.StatusTransitions != nil {
		out.PaidAt = unix(inv.StatusTransitions.PaidAt)
	}
	if inv.Lines != nil {
		for i, li := range inv.Lines.Data {
			if i == 0 && li.Period != nil {
				out.PeriodStart, out.PeriodEnd = unix(li.Period.Start), unix(li.Period.End)
			}
			if li.Pricing != nil && li.Pricing.PriceDetails != nil {
				out.PriceIDs = append(out.PriceIDs, li.Pricing.PriceDetails.Price)
			}
		}
	}
	out.PaymentID = paidPayment(inv)
	return out
}

// paidPayment is the payment intent that paid an invoice, from its
// payments (expanded); empty until paid.
func paidPayment(inv *stripego.Invoice) string {
	if inv == nil || inv.Payments == nil {
		return ""
	}
	for _, p := range inv.Payments.Data {
		if p.Status == "paid" && p.Payment != nil && p.Payment.PaymentIntent != nil {
			return p.Payment.PaymentIntent.ID
		}
	}
	return ""
}

func dispute(d *stripego.Dispute) paidup.ProcessorDispute {
	out := paidup.ProcessorDispute{
		ID:      d.ID,
		Amount:  paidup.Money{Amount: d.Amount, Currency: string(d.Currency)},
		Status:  string(d.Status),
		Reason:  string(d.Reason),
		Created: unix(d.Created),
	}
	if d.Charge != nil {
		out.ChargeID = d.Charge.ID
		if d.Charge.Customer != nil {
			out.CustomerID = d.Charge.Customer.ID
		}
	}
	if d.PaymentIntent != nil {
		out.PaymentID = d.PaymentIntent.ID
	}
	return out
}
