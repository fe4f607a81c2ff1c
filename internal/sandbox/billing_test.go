package sandbox_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

const proMonthly = "price_pro_monthly"

// billingSetup is setup with a monthly price to subscribe to.
func billingSetup(t *testing.T, engine sqldb.Engine, o setupOpts) *bundle {
	t.Helper()
	o.prices = append(o.prices, sandbox.SeedPrice{ID: proMonthly, ProductName: "Pro, monthly", Amount: 900, Currency: "usd", Interval: "month"})
	return setup(t, engine, o)
}

// subscribe pays a subscription-mode checkout for the monthly price with a
// test card, for a new customer (email) or an existing one (cus_…), and
// returns the completed session.
func (b *bundle) subscribe(t *testing.T, ref, who, card string) *stripe.CheckoutSession {
	t.Helper()
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		ClientReferenceID: stripe.String(ref),
		SuccessURL:        stripe.String("http://127.0.0.1:8080/checkout/" + ref),
		LineItems:         []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(proMonthly), Quantity: stripe.Int64(1)}},
		SubscriptionData:  &stripe.CheckoutSessionCreateSubscriptionDataParams{Metadata: map[string]string{"paidup_checkout": ref}},
	}
	if strings.HasPrefix(who, "cus_") {
		params.Customer = stripe.String(who)
	} else {
		params.CustomerEmail = stripe.String(who)
	}
	params.AddMetadata("paidup_checkout", ref)
	cs, err := b.client.V1CheckoutSessions.Create(context.Background(), params)
	require.NoError(t, err)
	require.Equal(t, stripe.CheckoutSessionModeSubscription, cs.Mode)
	paid, err := b.pay(cs.ID, card)
	require.NoError(t, err)
	return paid
}

func (b *bundle) subscription(t *testing.T, id string) *stripe.Subscription {
	t.Helper()
	sub, err := b.client.V1Subscriptions.Retrieve(context.Background(), id, nil)
	require.NoError(t, err)
	return sub
}

// invoice reads an invoice with its payments.
func (b *bundle) invoice(t *testing.T, id string) *stripe.Invoice {
	t.Helper()
	p := &stripe.InvoiceRetrieveParams{}
	p.AddExpand("payments")
	inv, err := b.client.V1Invoices.Retrieve(context.Background(), id, p)
	require.NoError(t, err)
	return inv
}

// advance moves a test clock to a time through the API.
func (b *bundle) advance(t *testing.T, clock string, to time.Time) *stripe.TestHelpersTestClock {
	t.Helper()
	tc, err := b.client.V1TestHelpersTestClocks.Advance(context.Background(), clock, &stripe.TestHelpersTestClockAdvanceParams{FrozenTime: stripe.Int64(to.Unix())})
	require.NoError(t, err)
	require.Equal(t, stripe.TestHelpersTestClockStatusReady, tc.Status)
	require.Equal(t, to.Unix(), tc.FrozenTime)
	return tc
}

// billingEvents lists the events after the first n, oldest first, without
// catalog and clock events.
func (b *bundle) billingEvents(t *testing.T, after int) []*stripe.Event {
	t.Helper()
	var all []*stripe.Event
	for ev, err := range b.client.V1Events.List(context.Background(), &stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(100)}}) {
		require.NoError(t, err)
		all = append(all, ev)
	}
	slices.Reverse(all)
	all = all[after:]
	return slices.DeleteFunc(all, func(ev *stripe.Event) bool {
		return len(withoutCatalog([]string{string(ev.Type)})) == 0 || strings.HasPrefix(string(ev.Type), "test_helpers.")
	})
}

func (b *bundle) eventCount(t *testing.T) int { return b.count(t, "/v1/events") }

func typesOf(evs []*stripe.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Type))
	}
	return out
}

// requireChronological checks that events were created in clock order.
func requireChronological(t *testing.T, evs []*stripe.Event) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		require.LessOrEqual(t, evs[i-1].Created, evs[i].Created, "%s before %s", evs[i-1].Type, evs[i].Type)
	}
}

// The sandbox's clock is a test clock, clock_sandbox, that runs; test
// clocks made through the API stand still until advanced, never backward.
func TestTestClocks(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		c := b.client.V1TestHelpersTestClocks

		def, err := c.Retrieve(ctx, sandbox.DefaultClock, nil)
		require.NoError(t, err)
		require.Equal(t, "test_helpers.test_clock", def.Object)
		require.Equal(t, b.sb.Now().Unix(), def.FrozenTime)
		require.Equal(t, b.clock.Now().Unix(), b.sb.Now().Unix(), "not advanced yet: the default clock is the wall clock")

		frozen := time.Date(2030, 1, 31, 12, 0, 0, 0, time.UTC)
		tc, err := c.Create(ctx, &stripe.TestHelpersTestClockCreateParams{FrozenTime: stripe.Int64(frozen.Unix()), Name: stripe.String("renewals")})
		require.NoError(t, err)
		require.Equal(t, stripe.TestHelpersTestClockStatusReady, tc.Status)
		require.Equal(t, "renewals", tc.Name)
		require.Equal(t, frozen.Unix(), tc.FrozenTime)

		var ids []string
		for got, err := range c.List(ctx, &stripe.TestHelpersTestClockListParams{}) {
			require.NoError(t, err)
			ids = append(ids, got.ID)
		}
		require.Equal(t, []string{tc.ID, sandbox.DefaultClock}, ids)

		b.advance(t, tc.ID, frozen.Add(48*time.Hour))
		_, err = c.Advance(ctx, tc.ID, &stripe.TestHelpersTestClockAdvanceParams{FrozenTime: stripe.Int64(frozen.Unix())})
		var se *stripe.Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode)
		require.Equal(t, "frozen_time", se.Param)

		// Advancing the default clock moves the sandbox's time and keeps
		// running from there.
		ahead := b.clock.Now().Add(40 * 24 * time.Hour)
		b.advance(t, sandbox.DefaultClock, ahead)
		require.Equal(t, ahead, b.sb.Now())
		b.clock.Add(time.Minute)
		require.Equal(t, ahead.Add(time.Minute), b.sb.Now())
		_, err = c.Advance(ctx, sandbox.DefaultClock, &stripe.TestHelpersTestClockAdvanceParams{FrozenTime: stripe.Int64(ahead.Unix() - 3600)})
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode)

		cu, err := b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("clock@example.com"), TestClock: stripe.String(tc.ID)})
		require.NoError(t, err)
		require.Equal(t, tc.ID, cu.TestClock.ID)
		require.Equal(t, frozen.Add(48*time.Hour).Unix(), cu.Created, "a customer lives by its clock")
		_, err = b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{TestClock: stripe.String("clock_missing")})
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusNotFound, se.HTTPStatusCode)

		_, err = c.Delete(ctx, sandbox.DefaultClock, nil)
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode)
		deleted, err := c.Delete(ctx, tc.ID, nil)
		require.NoError(t, err)
		require.True(t, deleted.Deleted)
		gone, err := b.client.V1Customers.Retrieve(ctx, cu.ID, nil)
		require.NoError(t, err)
		require.True(t, gone.Deleted, "deleting a clock deletes its customers")
		_, err = c.Create(ctx, &stripe.TestHelpersTestClockCreateParams{})
		require.ErrorAs(t, err, &se)
		require.Equal(t, "frozen_time", se.Param)

		// The offset is durable.
		b.stop()
		b.start(t, nil)
		require.Equal(t, ahead.Add(time.Minute), b.sb.Now())
	})
}

// A subscription-mode checkout paid with a card makes a customer, a payment
// method, an active subscription and its paid first invoice, with Stripe's
// events in Stripe's order.
func TestSubscriptionCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{})
		n := b.eventCount(t)
		now := b.sb.Now().Unix()

		cs := b.subscribe(t, "PU-SUB1", "ada@example.com", "pm_card_visa")
		require.Equal(t, stripe.CheckoutSessionStatusComplete, cs.Status)
		require.Equal(t, stripe.CheckoutSessionPaymentStatusPaid, cs.PaymentStatus)
		require.NotNil(t, cs.Subscription)
		require.NotNil(t, cs.Invoice)
		require.NotNil(t, cs.Customer)
		require.Nil(t, cs.PaymentIntent, "a subscription is paid through its invoice")

		sub := b.subscription(t, cs.Subscription.ID)
		require.Equal(t, stripe.SubscriptionStatusActive, sub.Status)
		require.Equal(t, cs.Customer.ID, sub.Customer.ID)
		require.Equal(t, "PU-SUB1", sub.Metadata["paidup_checkout"])
		require.Len(t, sub.Items.Data, 1)
		item := sub.Items.Data[0]
		require.Equal(t, proMonthly, item.Price.ID)
		require.Equal(t, now, item.CurrentPeriodStart)
		require.Equal(t, time.Unix(now, 0).UTC().AddDate(0, 1, 0).Unix(), item.CurrentPeriodEnd)
		require.NotNil(t, sub.DefaultPaymentMethod)
		require.Equal(t, cs.Invoice.ID, sub.LatestInvoice.ID)
		pm, err := b.client.V1PaymentMethods.Retrieve(ctx, sub.DefaultPaymentMethod.ID, nil)
		require.NoError(t, err)
		require.Equal(t, cs.Customer.ID, pm.Customer.ID)

		inv := b.invoice(t, cs.Invoice.ID)
		require.Equal(t, stripe.InvoiceStatusPaid, inv.Status)
		require.Equal(t, stripe.InvoiceBillingReasonSubscriptionCreate, inv.BillingReason)
		require.Equal(t, int64(900), inv.AmountPaid)
		require.Equal(t, sub.ID, inv.Parent.SubscriptionDetails.Subscription.ID)
		require.Equal(t, "PU-SUB1", inv.Parent.SubscriptionDetails.Metadata["paidup_checkout"])
		require.Equal(t, now, inv.StatusTransitions.PaidAt)
		require.Len(t, inv.Lines.Data, 1)
		require.Equal(t, proMonthly, inv.Lines.Data[0].Pricing.PriceDetails.Price)
		require.Equal(t, item.CurrentPeriodEnd, inv.Lines.Data[0].Period.End)
		require.Len(t, inv.Payments.Data, 1)
		pi, err := b.client.V1PaymentIntents.Retrieve(ctx, inv.Payments.Data[0].Payment.PaymentIntent.ID, nil)
		require.NoError(t, err)
		require.Equal(t, stripe.PaymentIntentStatusSucceeded, pi.Status)
		require.Equal(t, int64(900), pi.Amount)
		require.NotNil(t, pi.LatestCharge)

		require.Equal(t, []string{"customer.created", "payment_method.attached", "customer.subscription.created",
			"invoice.created", "invoice.finalized", "payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
			"invoice.paid", "invoice.payment_succeeded", "customer.subscription.updated", "checkout.session.completed"},
			typesOf(b.billingEvents(t, n)))

		// A declined card changes nothing: the session stays open.
		declined, err := b.client.V1CheckoutSessions.Create(ctx, &stripe.CheckoutSessionCreateParams{
			Mode: stripe.String("subscription"), SuccessURL: stripe.String("http://127.0.0.1:8080/ok"), CustomerEmail: stripe.String("bo@example.com"),
			LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(proMonthly)}},
		})
		require.NoError(t, err)
		b.settle(t)
		before := b.state(t)
		for _, card := range []string{"pm_card_chargeDeclined", "pm_card_chargeCustomerFail"} {
			_, err = b.pay(declined.ID, card)
			var se *stripe.Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, http.StatusPaymentRequired, se.HTTPStatusCode)
			require.Equal(t, stripe.ErrorTypeCard, se.Type)
		}
		requireSameState(t, before, b.state(t))
	})
}

// Stripe's refusals of subscription-mode sessions.
func TestSubscriptionCheckoutRefusals(t *testing.T) {
	b := billingSetup(t, sqldb.SQLite, setupOpts{})
	base := "mode=subscription&success_url=http://127.0.0.1/ok&line_items[0][price]=" + proMonthly
	for body, param := range map[string]string{
		"mode=subscription&success_url=http://127.0.0.1/ok&line_items[0][price]=price_pro_annual":                             "line_items[0][price]",
		base + "&payment_intent_data[description]=x":                                                                          "payment_intent_data",
		base + "&customer_creation=always":                                                                                    "customer_creation",
		"mode=payment&success_url=http://127.0.0.1/ok&line_items[0][price]=price_pro_annual&subscription_data[metadata][a]=b": "subscription_data",
		"mode=payment&success_url=http://127.0.0.1/ok&line_items[0][price]=" + proMonthly:                                     "line_items[0][price]",
		"mode=setup&success_url=http://127.0.0.1/ok":                                                                          "mode",
	} {
		status, resp := b.do(t, http.MethodPost, "/v1/checkout/sessions", body, nil)
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", body, resp)
		require.Equal(t, param, requireStripeError(t, resp).Error.Param, body)
	}
}

// Renewals run at each period end in clock order: a good card pays; a card
// that fails makes the subscription past_due and the invoice is retried on
// Stripe's schedule, then the subscription is canceled.
func TestRenewalsAndRetries(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{})
		cs := b.subscribe(t, "PU-RENEW", "ada@example.com", "pm_card_visa")
		subID, customer := cs.Subscription.ID, cs.Customer.ID
		firstEnd := b.subscription(t, subID).Items.Data[0].CurrentPeriodEnd

		// Two renewals in one advance, in order.
		n := b.eventCount(t)
		secondEnd := time.Unix(firstEnd, 0).UTC().AddDate(0, 1, 0)
		b.advance(t, sandbox.DefaultClock, secondEnd.Add(time.Hour))
		evs := b.billingEvents(t, n)
		cycle := []string{"customer.subscription.updated", "invoice.created", "invoice.finalized", "payment_intent.created",
			"charge.succeeded", "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded"}
		require.Equal(t, append(slices.Clone(cycle), cycle...), typesOf(evs))
		requireChronological(t, evs)
		require.Equal(t, firstEnd, evs[0].Created, "a renewal happens at its period end, in clock time")
		require.Equal(t, secondEnd.Unix(), evs[len(evs)-1].Created)
		sub := b.subscription(t, subID)
		require.Equal(t, stripe.SubscriptionStatusActive, sub.Status)
		require.Equal(t, secondEnd.Unix(), sub.Items.Data[0].CurrentPeriodStart)
		inv := b.invoice(t, sub.LatestInvoice.ID)
		require.Equal(t, stripe.InvoiceBillingReasonSubscriptionCycle, inv.BillingReason)
		require.Equal(t, stripe.InvoiceStatusPaid, inv.Status)

		// The card now fails: attach a failing card and make it the
		// subscription's.
		pm, err := b.client.V1PaymentMethods.Attach(ctx, "pm_card_chargeCustomerFail", &stripe.PaymentMethodAttachParams{Customer: stripe.String(customer)})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(pm.ID, "pm_") && pm.ID != "pm_card_chargeCustomerFail", "a test card token makes a new payment method")
		_, err = b.client.V1Subscriptions.Update(ctx, subID, &stripe.SubscriptionUpdateParams{DefaultPaymentMethod: stripe.String(pm.ID)})
		require.NoError(t, err)

		n = b.eventCount(t)
		thirdEnd := sub.Items.Data[0].CurrentPeriodEnd
		b.advance(t, sandbox.DefaultClock, time.Unix(thirdEnd, 0).Add(time.Hour))
		require.Equal(t, []string{"customer.subscription.updated", "invoice.created", "invoice.finalized", "payment_intent.created",
			"charge.failed", "payment_intent.payment_failed", "invoice.payment_failed", "customer.subscription.updated"},
			typesOf(b.billingEvents(t, n)))
		sub = b.subscription(t, subID)
		require.Equal(t, stripe.SubscriptionStatusPastDue, sub.Status)
		inv = b.invoice(t, sub.LatestInvoice.ID)
		require.Equal(t, stripe.InvoiceStatusOpen, inv.Status)
		require.Equal(t, int64(1), inv.AttemptCount)
		require.Equal(t, thirdEnd+24*3600, inv.NextPaymentAttempt)

		// Retries at +1, +3, … +13 days, then the subscription is canceled
		// and the invoice stays open.
		n = b.eventCount(t)
		b.advance(t, sandbox.DefaultClock, time.Unix(thirdEnd, 0).Add(14*24*time.Hour))
		evs = b.billingEvents(t, n)
		requireChronological(t, evs)
		var attempts []int64
		for _, ev := range evs {
			if ev.Type == "invoice.payment_failed" {
				attempts = append(attempts, (ev.Created-thirdEnd)/(24*3600))
			}
		}
		require.Equal(t, []int64{1, 3, 5, 7, 9, 11, 13}, attempts)
		require.Equal(t, "customer.subscription.deleted", string(evs[len(evs)-1].Type))
		sub = b.subscription(t, subID)
		require.Equal(t, stripe.SubscriptionStatusCanceled, sub.Status)
		require.Equal(t, stripe.SubscriptionCancellationDetailsReasonPaymentFailed, sub.CancellationDetails.Reason)
		inv = b.invoice(t, inv.ID)
		require.Equal(t, stripe.InvoiceStatusOpen, inv.Status)
		require.Equal(t, int64(8), inv.AttemptCount)
		require.Zero(t, inv.NextPaymentAttempt)

		// Nothing more happens to a canceled subscription.
		n = b.eventCount(t)
		b.advance(t, sandbox.DefaultClock, time.Unix(thirdEnd, 0).AddDate(0, 3, 0))
		require.Empty(t, b.billingEvents(t, n))

		// Paying by hand still works, with another card.
		good, err := b.client.V1PaymentMethods.Attach(ctx, "pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(customer)})
		require.NoError(t, err)
		paid, err := b.client.V1Invoices.Pay(ctx, inv.ID, &stripe.InvoicePayParams{PaymentMethod: stripe.String(good.ID)})
		require.NoError(t, err)
		require.Equal(t, stripe.InvoiceStatusPaid, paid.Status)
		require.Equal(t, stripe.SubscriptionStatusCanceled, b.subscription(t, subID).Status, "a canceled subscription stays canceled")
	})
}

// The retry schedule is kept in the invoices and subscriptions themselves,
// so a restarted sandbox keeps it; a manual payment that succeeds makes the
// subscription active again.
func TestRetryScheduleSurvivesRestart(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{dunning: sandbox.Dunning{Retries: []time.Duration{24 * time.Hour, 48 * time.Hour}, Then: sandbox.DunningUnpaid}})
		cs := b.subscribe(t, "PU-RESTART", "ada@example.com", "pm_card_visa")
		customer := cs.Customer.ID
		failing, err := b.client.V1PaymentMethods.Attach(ctx, "pm_card_chargeCustomerFail", &stripe.PaymentMethodAttachParams{Customer: stripe.String(customer)})
		require.NoError(t, err)
		_, err = b.client.V1Subscriptions.Update(ctx, cs.Subscription.ID, &stripe.SubscriptionUpdateParams{DefaultPaymentMethod: stripe.String(failing.ID)})
		require.NoError(t, err)
		end := b.subscription(t, cs.Subscription.ID).Items.Data[0].CurrentPeriodEnd
		b.advance(t, sandbox.DefaultClock, time.Unix(end, 0).Add(time.Hour))
		inv := b.invoice(t, b.subscription(t, cs.Subscription.ID).LatestInvoice.ID)
		require.Equal(t, end+24*3600, inv.NextPaymentAttempt)

		b.stop()
		b.start(t, nil)
		require.Equal(t, end+24*3600, b.invoice(t, inv.ID).NextPaymentAttempt, "the schedule survives the restart")
		// Time passes on the wall clock while the sandbox runs: its ticker
		// makes the first retry.
		b.clock.Add(24 * time.Hour)
		require.Eventually(t, func() bool { return b.invoice(t, inv.ID).AttemptCount == 2 }, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, end+48*3600, b.invoice(t, inv.ID).NextPaymentAttempt)

		b.stop()
		b.clock.Add(24 * time.Hour)
		b.start(t, nil) // the last retry fell due while it was stopped
		got := b.invoice(t, inv.ID)
		require.Equal(t, int64(3), got.AttemptCount)
		require.Zero(t, got.NextPaymentAttempt)
		require.Equal(t, stripe.SubscriptionStatusUnpaid, b.subscription(t, cs.Subscription.ID).Status)

		// The customer pays by hand with a good card, with an idempotency
		// key sent twice: one charge, and the subscription is active again.
		good, err := b.client.V1PaymentMethods.Attach(ctx, "pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(customer)})
		require.NoError(t, err)
		params := func() *stripe.InvoicePayParams {
			p := &stripe.InvoicePayParams{PaymentMethod: stripe.String(good.ID)}
			p.SetIdempotencyKey("pay-" + inv.ID)
			return p
		}
		first, err := b.client.V1Invoices.Pay(ctx, inv.ID, params())
		require.NoError(t, err)
		again, err := b.client.V1Invoices.Pay(ctx, inv.ID, params())
		require.NoError(t, err)
		require.Equal(t, first.StatusTransitions.PaidAt, again.StatusTransitions.PaidAt)
		require.Equal(t, int64(4), b.invoice(t, inv.ID).AttemptCount, "the replay made no attempt")
		require.Equal(t, stripe.SubscriptionStatusActive, b.subscription(t, cs.Subscription.ID).Status)
		_, err = b.client.V1Invoices.Pay(ctx, inv.ID, nil)
		var se *stripe.Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode, "already paid")
	})
}

func requireSameState(t *testing.T, before, after state) {
	t.Helper()
	require.Equal(t, before.counts, after.counts, "the API shows the same objects")
	require.Equal(t, before.rows, after.rows, "the database holds the same rows")
}
