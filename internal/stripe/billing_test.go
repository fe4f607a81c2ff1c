package stripe_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
)

var proMonthly = paidup.Plan{ID: "pro-monthly", Name: "Pro, monthly", PriceID: "price_pro_monthly", Amount: paidup.Money{Amount: 900, Currency: "usd"}, Interval: paidup.Monthly}

func billingSandbox(t *testing.T) *sandboxtest.Server {
	return sandboxtest.Start(t, sandbox.Options{
		Dunning: sandbox.Dunning{Retries: []time.Duration{24 * time.Hour}},
		Prices: []sandbox.SeedPrice{
			{ID: proMonthly.PriceID, ProductName: proMonthly.Name, Amount: 900, Currency: "usd", Interval: "month"},
			{ID: proAnnual.PriceID, ProductName: proAnnual.Name, Amount: 24900, Currency: "usd"},
		},
	})
}

func subscribeRequest(ref string) paidup.CheckoutRequest {
	r := request(ref)
	r.Plan = proMonthly
	return r
}

// advance moves the sandbox's clock to t.
func advance(t *testing.T, sb *sandboxtest.Server, to time.Time) {
	t.Helper()
	sb.Call(t, http.MethodPost, "/v1/test_helpers/test_clocks/"+sandbox.DefaultClock+"/advance", url.Values{"frozen_time": {strconv.FormatInt(to.Unix(), 10)}})
}

// A recurring plan's checkout starts a subscription; the adapter reads it,
// its invoices and their payments, cancels it, and opens the portal.
func TestSubscriptionsAgainstSandbox(t *testing.T) {
	sb := billingSandbox(t)
	c := sb.Processor()
	ctx := context.Background()
	start := sb.Sandbox.Now()

	co, err := c.CreateCheckout(ctx, subscribeRequest("PU-SUBS-0001"))
	require.NoError(t, err)
	again, err := c.CreateCheckout(ctx, subscribeRequest("PU-SUBS-0001"))
	require.NoError(t, err)
	require.Equal(t, co.ID, again.ID)
	sb.Pay(t, co.ID, nil)

	paid, err := c.Checkout(ctx, co.ID)
	require.NoError(t, err)
	require.True(t, paid.Paid)
	require.Equal(t, "PU-SUBS-0001", paid.Reference)
	require.NotEmpty(t, paid.SubscriptionID)
	require.NotEmpty(t, paid.InvoiceID)
	require.NotEmpty(t, paid.PaymentID, "the first invoice's payment")
	// The sandbox's clock runs: the payment is in the second it was made.
	require.WithinRange(t, paid.PaidAt, start.Truncate(time.Second), sb.Sandbox.Now())
	require.Equal(t, "ada@example.com", paid.Email)

	sub, err := c.Subscription(ctx, paid.SubscriptionID)
	require.NoError(t, err)
	require.Equal(t, paidup.SubscriptionActive, sub.Status)
	require.Equal(t, "PU-SUBS-0001", sub.Reference)
	require.Equal(t, paid.CustomerID, sub.CustomerID)
	require.Equal(t, []string{proMonthly.PriceID}, sub.PriceIDs)
	require.Equal(t, paid.PaidAt.Unix(), sub.CurrentPeriodStart.Unix())
	require.Equal(t, sub.CurrentPeriodStart.UTC().AddDate(0, 1, 0).Unix(), sub.CurrentPeriodEnd.Unix())
	require.Equal(t, paid.InvoiceID, sub.LatestInvoiceID)

	first, err := c.Invoice(ctx, paid.InvoiceID)
	require.NoError(t, err)
	require.Equal(t, paidup.ProcessorInvoice{
		ID: paid.InvoiceID, CustomerID: paid.CustomerID, CustomerEmail: "ada@example.com", SubscriptionID: sub.ID, Status: paidup.InvoicePaid,
		BillingReason: paidup.InvoiceForSubscriptionCreate, PaymentID: paid.PaymentID, Amount: proMonthly.Amount,
		PriceIDs: []string{proMonthly.PriceID}, PeriodStart: sub.CurrentPeriodStart, PeriodEnd: sub.CurrentPeriodEnd,
		PaidAt: paid.PaidAt, AttemptCount: 1, Created: first.Created,
	}, first)

	// A renewal that fails: the invoice is open, tried once, retried
	// tomorrow; the subscription is past due.
	sb.Call(t, http.MethodPost, "/v1/payment_methods/pm_card_chargeCustomerFail/attach", url.Values{"customer": {sub.CustomerID}})
	var failing string
	for _, pm := range sb.Call(t, http.MethodGet, "/v1/payment_methods?customer="+sub.CustomerID, nil)["data"].([]any) {
		if pm := pm.(map[string]any); pm["card"].(map[string]any)["last4"] == "0341" {
			failing = pm["id"].(string)
		}
	}
	sb.Call(t, http.MethodPost, "/v1/subscriptions/"+sub.ID, url.Values{"default_payment_method": {failing}})
	advance(t, sb, sub.CurrentPeriodEnd.Add(time.Hour))
	var invoices []paidup.ProcessorInvoice
	require.NoError(t, c.ListInvoices(ctx, paidup.Created{Since: start}, func(inv paidup.ProcessorInvoice) error {
		invoices = append(invoices, inv)
		return nil
	}))
	require.Len(t, invoices, 2)
	renewal := invoices[0]
	require.Equal(t, paidup.InvoiceOpen, renewal.Status)
	require.Equal(t, paidup.InvoiceForSubscriptionCycle, renewal.BillingReason)
	require.Equal(t, 1, renewal.AttemptCount)
	require.Equal(t, sub.CurrentPeriodEnd.Add(24*time.Hour), renewal.NextAttempt)
	require.Empty(t, renewal.PaymentID, "not paid")
	require.Equal(t, sub.CurrentPeriodEnd, renewal.PeriodStart, "the renewal pays for the next period")
	got, err := c.Subscription(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, paidup.SubscriptionPastDue, got.Status)

	url, err := c.PortalURL(ctx, sub.CustomerID, "http://127.0.0.1:8080/account")
	require.NoError(t, err)
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	ending, err := c.SetCancelAtPeriodEnd(ctx, sub.ID, true)
	require.NoError(t, err)
	require.True(t, ending.CancelAtPeriodEnd, "set to end with its period")
	require.False(t, ending.CanceledAt.IsZero())
	twice, err := c.SetCancelAtPeriodEnd(ctx, sub.ID, true)
	require.NoError(t, err, "asking twice is not an error")
	require.True(t, twice.CancelAtPeriodEnd)
	resumed, err := c.SetCancelAtPeriodEnd(ctx, sub.ID, false)
	require.NoError(t, err)
	require.False(t, resumed.CancelAtPeriodEnd, "resumed: it renews")
	require.True(t, resumed.CanceledAt.IsZero())
	_, err = c.SetCancelAtPeriodEnd(ctx, "sub_missing", true)
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))

	before, err := c.Subscription(ctx, sub.ID)
	require.NoError(t, err)
	require.NotEqual(t, paidup.SubscriptionCanceled, before.Status)
	canceled, err := c.CancelSubscription(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, paidup.SubscriptionCanceled, canceled.Status)
	require.False(t, canceled.EndedAt.IsZero())
	_, err = c.SetCancelAtPeriodEnd(ctx, sub.ID, false)
	require.Error(t, err, "an ended subscription cannot be resumed")
	again2, err := c.CancelSubscription(ctx, sub.ID)
	require.NoError(t, err, "cancelling twice is not an error")
	require.Equal(t, canceled.EndedAt, again2.EndedAt)
	after, err := c.Subscription(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, paidup.SubscriptionCanceled, after.Status, "an ended subscription still reads back")

	_, err = c.Subscription(ctx, "sub_missing")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
	_, err = c.Invoice(ctx, "in_missing")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
	_, err = c.PortalURL(ctx, "cus_missing", "")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
}

// A payment with the dispute test card is disputed; the adapter lists and
// reads the dispute.
func TestDisputesAgainstSandbox(t *testing.T) {
	sb := billingSandbox(t)
	c := sb.Processor()
	ctx := context.Background()
	start := sb.Sandbox.Now()
	co, err := c.CreateCheckout(ctx, request("PU-DISP-0001"))
	require.NoError(t, err)
	sb.Pay(t, co.ID, url.Values{"payment_method": {"pm_card_createDispute"}})
	paid, err := c.Checkout(ctx, co.ID)
	require.NoError(t, err)

	var disputes []paidup.ProcessorDispute
	require.NoError(t, c.ListDisputes(ctx, paidup.Created{Since: start}, func(d paidup.ProcessorDispute) error {
		disputes = append(disputes, d)
		return nil
	}))
	require.Len(t, disputes, 1)
	d, err := c.Dispute(ctx, disputes[0].ID)
	require.NoError(t, err)
	require.Equal(t, disputes[0], d)
	require.Equal(t, paid.PaymentID, d.PaymentID)
	require.Equal(t, paid.CustomerID, d.CustomerID)
	require.Equal(t, proAnnual.Amount, d.Amount)
	require.Equal(t, "needs_response", d.Status)
	require.Equal(t, "fraudulent", d.Reason)
	require.NotEmpty(t, d.ChargeID)
	_, err = c.Dispute(ctx, "dp_missing")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
}
