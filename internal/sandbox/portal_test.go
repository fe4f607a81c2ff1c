package sandbox_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// pastDue subscribes a customer whose card then fails at renewal, and
// returns the session.
func (b *bundle) pastDue(t *testing.T, ref, email string) *stripe.CheckoutSession {
	t.Helper()
	ctx := context.Background()
	cs := b.subscribe(t, ref, email, "pm_card_visa")
	pm, err := b.client.V1PaymentMethods.Attach(ctx, "pm_card_chargeCustomerFail", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cs.Customer.ID)})
	require.NoError(t, err)
	_, err = b.client.V1Subscriptions.Update(ctx, cs.Subscription.ID, &stripe.SubscriptionUpdateParams{DefaultPaymentMethod: stripe.String(pm.ID)})
	require.NoError(t, err)
	end := b.subscription(t, cs.Subscription.ID).Items.Data[0].CurrentPeriodEnd
	b.advance(t, sandbox.DefaultClock, time.Unix(end, 0).Add(time.Hour))
	require.Equal(t, stripe.SubscriptionStatusPastDue, b.subscription(t, cs.Subscription.ID).Status)
	return cs
}

// The portal shows a customer's subscriptions and unpaid invoices; a new
// card becomes the default and pays what is owed at once; a subscription
// can be set to end at period end, and kept again.
func TestPortal(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{})
		cs := b.pastDue(t, "PU-PORTAL", "ada@example.com")
		ps, err := b.client.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{
			Customer: stripe.String(cs.Customer.ID), ReturnURL: stripe.String("http://127.0.0.1:8080/account"),
		})
		require.NoError(t, err)
		require.Equal(t, b.opts.BaseURL+"/p/"+ps.ID, ps.URL)
		path := strings.TrimPrefix(ps.URL, b.opts.BaseURL)

		status, _, body := b.browse(t, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "past_due")
		require.Contains(t, text(body), "$9.00")
		require.Contains(t, body, `href="http://127.0.0.1:8080/account"`)

		// A card that fails is saved, but the invoice stays unpaid.
		status, _, body = b.browse(t, http.MethodPost, path+"/card", card("4000 0000 0000 0341"))
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, text(body), "could not be paid")
		inv := b.invoice(t, b.subscription(t, cs.Subscription.ID).LatestInvoice.ID)
		require.Equal(t, stripe.InvoiceStatusOpen, inv.Status)
		require.Equal(t, int64(2), inv.AttemptCount)

		status, _, body = b.browse(t, http.MethodPost, path+"/card", card("4242 4242 4242 4242"))
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, text(body), "is paid")
		require.Equal(t, stripe.InvoiceStatusPaid, b.invoice(t, inv.ID).Status)
		sub := b.subscription(t, cs.Subscription.ID)
		require.Equal(t, stripe.SubscriptionStatusActive, sub.Status)
		cu, err := b.client.V1Customers.Retrieve(ctx, cs.Customer.ID, nil)
		require.NoError(t, err)
		require.Equal(t, sub.DefaultPaymentMethod.ID, cu.InvoiceSettings.DefaultPaymentMethod.ID, "the new card is the default of both")

		status, _, body = b.browse(t, http.MethodPost, path+"/subscriptions/"+sub.ID+"/cancel", url.Values{})
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, text(body), "You keep access until then")
		require.True(t, b.subscription(t, sub.ID).CancelAtPeriodEnd)
		status, _, _ = b.browse(t, http.MethodPost, path+"/subscriptions/"+sub.ID+"/renew", url.Values{})
		require.Equal(t, http.StatusOK, status)
		require.False(t, b.subscription(t, sub.ID).CancelAtPeriodEnd)
	})
}

// Hostile or mistaken portal requests get a clear 4xx and change nothing.
func TestPortalRefusals(t *testing.T) {
	b := billingSetup(t, sqldb.SQLite, setupOpts{})
	ctx := context.Background()
	cs := b.pastDue(t, "PU-HOSTILE", "ada@example.com")
	other := b.subscribe(t, "PU-OTHER", "bob@example.com", "pm_card_visa")
	ps, err := b.client.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{Customer: stripe.String(cs.Customer.ID)})
	require.NoError(t, err)
	path := "/p/" + ps.ID
	b.settle(t)
	before := b.state(t)

	for _, tc := range []struct {
		path   string
		form   url.Values
		status int
	}{
		{"/p/bps_missing/card", card("4242424242424242"), http.StatusNotFound},
		{path + "/subscriptions/" + other.Subscription.ID + "/cancel", url.Values{}, http.StatusNotFound},
		{path + "/subscriptions/sub_missing/cancel", url.Values{}, http.StatusNotFound},
		{path + "/card", card("4242424242424241"), http.StatusUnprocessableEntity},
		{path + "/card", card("4242424242424242", "exp", "13/99"), http.StatusUnprocessableEntity},
		{path + "/card", card("4242424242424242", "cvc", "<script>"), http.StatusUnprocessableEntity},
		{path + "/card", card("4242424242424242", "name", strings.Repeat("x", 201)), http.StatusUnprocessableEntity},
		{path + "/card", card("4000000000000002"), http.StatusPaymentRequired},
		{path + "/card", url.Values{"card_number": {strings.Repeat("4", 20<<10)}}, http.StatusRequestEntityTooLarge},
	} {
		status, _, body := b.browse(t, http.MethodPost, tc.path, tc.form)
		require.Equal(t, tc.status, status, "%s: %s", tc.path, body)
		require.NotContains(t, body, "<script>")
	}
	req, err := http.NewRequest(http.MethodPost, b.opts.BaseURL+path+"/card", strings.NewReader(card("4242424242424242").Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	status, _, _ := b.browse(t, http.MethodGet, "/p/bps_missing", nil)
	require.Equal(t, http.StatusNotFound, status)
	requireSameState(t, before, b.state(t))
}

// The console shows the sandbox's clock and subscriptions, and its buttons
// advance the clock.
func TestConsoleClock(t *testing.T) {
	b := billingSetup(t, sqldb.SQLite, setupOpts{})
	cs := b.subscribe(t, "PU-CONSOLE", "ada@example.com", "pm_card_visa")
	status, _, body := b.browse(t, http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, cs.Subscription.ID)
	require.Contains(t, body, b.sb.Now().UTC().Format("2006-01-02"))

	start := b.sb.Now()
	status, location, _ := b.browse(t, http.MethodPost, "/console/clock/advance", url.Values{"by": {"week"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/", location)
	require.Equal(t, start.AddDate(0, 0, 7).Unix(), b.sb.Now().Unix())
	status, _, _ = b.browse(t, http.MethodPost, "/console/clock/advance", url.Values{"by": {"month"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, stripe.InvoiceBillingReasonSubscriptionCycle, b.invoice(t, b.subscription(t, cs.Subscription.ID).LatestInvoice.ID).BillingReason, "a month on, it renewed")
	now := b.sb.Now()
	status, _, _ = b.browse(t, http.MethodPost, "/console/clock/advance", url.Values{"by": {"year"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, now.Unix(), b.sb.Now().Unix())
}
