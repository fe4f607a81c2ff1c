package sandbox_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// Cancelling: at period end (undone by cancel_at_period_end=false), or at
// once with DELETE; resuming is only for paused subscriptions.
func TestSubscriptionCancellation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{})
		api := b.client.V1Subscriptions
		ending := b.subscribe(t, "PU-END", "ada@example.com", "pm_card_visa").Subscription.ID
		kept := b.subscribe(t, "PU-KEPT", "bob@example.com", "pm_card_visa").Subscription.ID
		now := b.subscribe(t, "PU-NOW", "cy@example.com", "pm_card_visa").Subscription.ID

		sub, err := api.Update(ctx, ending, &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: stripe.Bool(true), Metadata: map[string]string{"why": "moving"}})
		require.NoError(t, err)
		require.True(t, sub.CancelAtPeriodEnd)
		require.Equal(t, b.sb.Now().Unix(), sub.CanceledAt)
		require.Equal(t, sub.Items.Data[0].CurrentPeriodEnd, sub.CancelAt)
		require.Equal(t, "moving", sub.Metadata["why"])
		_, err = api.Update(ctx, kept, &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: stripe.Bool(true)})
		require.NoError(t, err)
		undone, err := api.Update(ctx, kept, &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: stripe.Bool(false)})
		require.NoError(t, err)
		require.False(t, undone.CancelAtPeriodEnd)
		require.Zero(t, undone.CanceledAt)

		canceled, err := api.Cancel(ctx, now, nil)
		require.NoError(t, err)
		require.Equal(t, stripe.SubscriptionStatusCanceled, canceled.Status)
		require.Equal(t, b.sb.Now().Unix(), canceled.EndedAt)
		var se *stripe.Error
		_, err = api.Cancel(ctx, now, nil)
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode)
		_, err = api.Update(ctx, now, &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: stripe.Bool(true)})
		require.ErrorAs(t, err, &se)
		_, err = api.Resume(ctx, kept, nil)
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode)

		n := b.eventCount(t)
		b.advance(t, sandbox.DefaultClock, time.Unix(sub.Items.Data[0].CurrentPeriodEnd, 0).Add(time.Minute))
		require.Equal(t, stripe.SubscriptionStatusCanceled, b.subscription(t, ending).Status)
		require.Equal(t, stripe.SubscriptionStatusActive, b.subscription(t, kept).Status)
		var deleted []string
		for _, ev := range b.billingEvents(t, n) {
			if ev.Type == "customer.subscription.deleted" {
				deleted = append(deleted, ev.Data.Object["id"].(string))
			}
		}
		require.Equal(t, []string{ending}, deleted)

		list := func(p *stripe.SubscriptionListParams) []string {
			var ids []string
			for s, err := range api.List(ctx, p) {
				require.NoError(t, err)
				ids = append(ids, s.ID)
			}
			return ids
		}
		require.Equal(t, []string{kept}, list(&stripe.SubscriptionListParams{}), "canceled ones are left out by default")
		require.Equal(t, []string{now, kept, ending}, list(&stripe.SubscriptionListParams{Status: stripe.String("all")}))
		require.Equal(t, []string{now, ending}, list(&stripe.SubscriptionListParams{Status: stripe.String("canceled")}))
		require.Equal(t, []string{kept}, list(&stripe.SubscriptionListParams{Price: stripe.String(proMonthly)}))
		cus := b.subscription(t, now).Customer.ID
		require.Equal(t, []string{now}, list(&stripe.SubscriptionListParams{Customer: stripe.String(cus), Status: stripe.String("all")}))
		paged := list(&stripe.SubscriptionListParams{Status: stripe.String("all"), ListParams: stripe.ListParams{Limit: stripe.Int64(1)}})
		require.Equal(t, []string{now, kept, ending}, paged, "pagination")
		require.Empty(t, list(&stripe.SubscriptionListParams{Status: stripe.String("all"), CreatedRange: &stripe.RangeQueryParams{GreaterThan: b.sb.Now().Unix()}}))
		status, body := b.get(t, "/v1/subscriptions?status=bogus")
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "status", requireStripeError(t, body).Error.Param)
	})
}

// Payment methods attach to customers (a test card token makes a new one),
// become their default, and detach; declining cards cannot be attached.
func TestPaymentMethods(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{})
		ada, _ := b.newCustomer(t, "ada@example.com")
		bob, _ := b.newCustomer(t, "bob@example.com")
		pm, err := b.client.V1PaymentMethods.Attach(ctx, "pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(ada)})
		require.NoError(t, err)
		require.Equal(t, "4242", pm.Card.Last4)
		cu, err := b.client.V1Customers.Update(ctx, ada, &stripe.CustomerUpdateParams{InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{DefaultPaymentMethod: stripe.String(pm.ID)}})
		require.NoError(t, err)
		require.Equal(t, pm.ID, cu.InvoiceSettings.DefaultPaymentMethod.ID)

		var listed []string
		for got, err := range b.client.V1PaymentMethods.List(ctx, &stripe.PaymentMethodListParams{Customer: stripe.String(ada), Type: stripe.String("card")}) {
			require.NoError(t, err)
			listed = append(listed, got.ID)
		}
		require.Equal(t, []string{pm.ID}, listed)

		b.settle(t)
		before := b.state(t)
		var se *stripe.Error
		_, err = b.client.V1PaymentMethods.Attach(ctx, "pm_card_chargeDeclined", &stripe.PaymentMethodAttachParams{Customer: stripe.String(ada)})
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusPaymentRequired, se.HTTPStatusCode)
		_, err = b.client.V1PaymentMethods.Attach(ctx, pm.ID, &stripe.PaymentMethodAttachParams{Customer: stripe.String(bob)})
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode, "attached to another customer")
		_, err = b.client.V1Customers.Update(ctx, bob, &stripe.CustomerUpdateParams{InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{DefaultPaymentMethod: stripe.String(pm.ID)}})
		require.ErrorAs(t, err, &se)
		require.Equal(t, "invoice_settings[default_payment_method]", se.Param)
		_, err = b.client.V1PaymentMethods.Attach(ctx, "pm_missing", &stripe.PaymentMethodAttachParams{Customer: stripe.String(ada)})
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusNotFound, se.HTTPStatusCode)
		status, body := b.do(t, http.MethodPost, "/v1/payment_methods/"+pm.ID+"/attach", "", nil)
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "customer", requireStripeError(t, body).Error.Param)
		requireSameState(t, before, b.state(t))

		detached, err := b.client.V1PaymentMethods.Detach(ctx, pm.ID, nil)
		require.NoError(t, err)
		require.Nil(t, detached.Customer)
		cu, err = b.client.V1Customers.Retrieve(ctx, ada, nil)
		require.NoError(t, err)
		require.Nil(t, cu.InvoiceSettings.DefaultPaymentMethod, "a detached method is no longer the default")
		_, err = b.client.V1PaymentMethods.Detach(ctx, pm.ID, nil)
		require.ErrorAs(t, err, &se)

		// A customer created with a payment method and a default.
		withCard, err := b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("cy@example.com"), PaymentMethod: stripe.String("pm_card_mastercard")})
		require.NoError(t, err)
		for got, err := range b.client.V1PaymentMethods.List(ctx, &stripe.PaymentMethodListParams{Customer: stripe.String(withCard.ID)}) {
			require.NoError(t, err)
			require.Equal(t, "5555555555554444"[12:], got.Card.Last4)
		}
	})
}

// The dispute card's charge is disputed right after it succeeds; evidence
// wins or loses the dispute, and closing it accepts the loss.
func TestDisputes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{})
		start := b.sb.Now().Unix()
		n := b.eventCount(t)
		cs := b.subscribe(t, "PU-DISPUTE", "ada@example.com", "pm_card_createDispute")
		types := typesOf(b.billingEvents(t, n))
		require.Contains(t, types, "charge.dispute.created")
		require.Less(t, indexOf(types, "payment_intent.succeeded"), indexOf(types, "charge.dispute.created"))

		var disputes []*stripe.Dispute
		for dp, err := range b.client.V1Disputes.List(ctx, &stripe.DisputeListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: start}}) {
			require.NoError(t, err)
			disputes = append(disputes, dp)
		}
		require.Len(t, disputes, 1)
		dp := disputes[0]
		require.Equal(t, stripe.DisputeStatusNeedsResponse, dp.Status)
		require.Equal(t, stripe.DisputeReasonFraudulent, dp.Reason)
		require.Equal(t, int64(900), dp.Amount)
		inv := b.invoice(t, cs.Invoice.ID)
		require.Equal(t, inv.Payments.Data[0].Payment.PaymentIntent.ID, dp.PaymentIntent.ID)
		ch, err := b.client.V1Charges.Retrieve(ctx, dp.Charge.ID, nil)
		require.NoError(t, err)
		require.True(t, ch.Disputed)

		n = b.eventCount(t)
		won, err := b.client.V1Disputes.Update(ctx, dp.ID, &stripe.DisputeUpdateParams{Evidence: &stripe.DisputeUpdateEvidenceParams{UncategorizedText: stripe.String("winning_evidence")}})
		require.NoError(t, err)
		require.Equal(t, stripe.DisputeStatusWon, won.Status)
		require.Equal(t, []string{"charge.dispute.updated", "charge.dispute.closed"}, typesOf(b.billingEvents(t, n)))
		var se *stripe.Error
		_, err = b.client.V1Disputes.Close(ctx, dp.ID, nil)
		require.ErrorAs(t, err, &se, "a closed dispute cannot be closed again")
		_, err = b.client.V1Disputes.Update(ctx, dp.ID, &stripe.DisputeUpdateParams{Evidence: &stripe.DisputeUpdateEvidenceParams{UncategorizedText: stripe.String("losing_evidence")}})
		require.ErrorAs(t, err, &se)

		// Two more disputes: one lost on evidence, one closed.
		for _, how := range []string{"evidence", "close"} {
			b.subscribe(t, "PU-DISPUTE-"+how, how+"@example.com", "pm_card_createDispute")
			var id string
			for dp, err := range b.client.V1Disputes.List(ctx, &stripe.DisputeListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(1)}}) {
				require.NoError(t, err)
				id = dp.ID
				break
			}
			var lost *stripe.Dispute
			var err error
			if how == "close" {
				lost, err = b.client.V1Disputes.Close(ctx, id, nil)
			} else {
				lost, err = b.client.V1Disputes.Update(ctx, id, &stripe.DisputeUpdateParams{Evidence: &stripe.DisputeUpdateEvidenceParams{UncategorizedText: stripe.String("losing_evidence")}})
			}
			require.NoError(t, err)
			require.Equal(t, stripe.DisputeStatusLost, lost.Status, how)
		}
		_, err = b.client.V1Disputes.Retrieve(ctx, "dp_missing", nil)
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusNotFound, se.HTTPStatusCode)
	})
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// A customer on a test clock subscribes in that clock's time and renews
// when that clock, not the sandbox's, is advanced.
func TestSubscriptionOnATestClock(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := billingSetup(t, engine, setupOpts{})
		frozen := time.Date(2031, 1, 31, 9, 0, 0, 0, time.UTC)
		tc, err := b.client.V1TestHelpersTestClocks.Create(ctx, &stripe.TestHelpersTestClockCreateParams{FrozenTime: stripe.Int64(frozen.Unix())})
		require.NoError(t, err)
		cu, err := b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("clock@example.com"), TestClock: stripe.String(tc.ID)})
		require.NoError(t, err)
		cs := b.subscribe(t, "PU-CLOCK", cu.ID, "pm_card_visa")
		sub := b.subscription(t, cs.Subscription.ID)
		require.Equal(t, tc.ID, sub.TestClock.ID)
		require.Equal(t, frozen.Unix(), sub.StartDate)
		feb := time.Date(2031, 2, 28, 9, 0, 0, 0, time.UTC)
		require.Equal(t, feb.Unix(), sub.Items.Data[0].CurrentPeriodEnd, "anchored on the 31st, it renews on the last day of February")

		b.advance(t, sandbox.DefaultClock, b.sb.Now().AddDate(0, 2, 0))
		require.Equal(t, feb.Unix(), b.subscription(t, sub.ID).Items.Data[0].CurrentPeriodEnd, "the sandbox's clock does not move it")

		b.advance(t, tc.ID, time.Date(2031, 4, 1, 0, 0, 0, 0, time.UTC))
		got := b.subscription(t, sub.ID)
		require.Equal(t, time.Date(2031, 3, 31, 9, 0, 0, 0, time.UTC).Unix(), got.Items.Data[0].CurrentPeriodStart, "back to the 31st")
		var invoices []*stripe.Invoice
		for inv, err := range b.client.V1Invoices.List(ctx, &stripe.InvoiceListParams{Subscription: stripe.String(sub.ID)}) {
			require.NoError(t, err)
			invoices = append(invoices, inv)
		}
		require.Len(t, invoices, 3)
		require.Equal(t, time.Date(2031, 3, 31, 9, 0, 0, 0, time.UTC).Unix(), invoices[0].Created)
		for _, inv := range invoices {
			require.Equal(t, stripe.InvoiceStatusPaid, inv.Status)
		}
		var open []*stripe.Invoice
		for inv, err := range b.client.V1Invoices.List(ctx, &stripe.InvoiceListParams{Customer: stripe.String(cu.ID), Status: stripe.String("open")}) {
			require.NoError(t, err)
			open = append(open, inv)
		}
		require.Empty(t, open)
	})
}

// Refused billing requests have Stripe's error shape and change nothing;
// repeated idempotency keys replay.
func TestBillingBadInputChangesNothing(t *testing.T) {
	b := billingSetup(t, sqldb.SQLite, setupOpts{})
	cs := b.subscribe(t, "PU-BAD", "ada@example.com", "pm_card_visa")
	sub, inv, cus := cs.Subscription.ID, cs.Invoice.ID, cs.Customer.ID
	other, _ := b.newCustomer(t, "other@example.com")
	pm, err := b.client.V1PaymentMethods.Attach(context.Background(), "pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(other)})
	require.NoError(t, err)
	b.settle(t)
	before := b.state(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
		param              string
	}{
		{"POST", "/v1/test_helpers/test_clocks", "frozen_time=abc", 400, "frozen_time"},
		{"POST", "/v1/test_helpers/test_clocks", "frozen_time=1&colour=blue", 400, "colour"},
		{"POST", "/v1/test_helpers/test_clocks/clock_missing/advance", "frozen_time=1", 404, "test_clock"},
		{"POST", "/v1/test_helpers/test_clocks/" + sandbox.DefaultClock + "/advance", "frozen_time=1", 400, "frozen_time"},
		{"POST", "/v1/subscriptions/" + sub, "cancel_at_period_end=maybe", 400, "cancel_at_period_end"},
		{"POST", "/v1/subscriptions/" + sub, "default_payment_method=" + pm.ID, 400, "default_payment_method"},
		{"POST", "/v1/subscriptions/sub_missing", "metadata[a]=b", 404, "id"},
		{"DELETE", "/v1/subscriptions/" + sub, "invoice_now=true", 400, "invoice_now"},
		{"POST", "/v1/invoices/" + inv + "/pay", "", 400, "invoice"},
		{"POST", "/v1/invoices/in_missing/pay", "", 404, "invoice"},
		{"GET", "/v1/invoices?status=late", "", 400, "status"},
		{"POST", "/v1/payment_methods/pm_card_chargeDeclinedInsufficientFunds/attach", "customer=" + cus, 402, ""},
		{"POST", "/v1/billing_portal/sessions", "customer=" + cus + "&return_url=javascript:alert(1)", 400, "return_url"},
		{"POST", "/v1/billing_portal/sessions", "return_url=http://127.0.0.1/", 400, "customer"},
		{"POST", "/v1/billing_portal/sessions", "customer=cus_missing", 404, "customer"},
		{"POST", "/v1/disputes/dp_missing/close", "", 404, "dispute"},
	} {
		status, resp := b.do(t, tc.method, tc.path, tc.body, nil)
		require.Equal(t, tc.status, status, "%s %s %s: %s", tc.method, tc.path, tc.body, resp)
		e := requireStripeError(t, resp)
		if tc.param != "" {
			require.Equal(t, tc.param, e.Error.Param, "%s %s", tc.method, tc.path)
		}
	}
	requireSameState(t, before, b.state(t))

	// The same idempotency key on an advance replays it: the clock moves once.
	to := b.sb.Now().Add(24 * time.Hour).Unix()
	form := "frozen_time=" + itoa(to)
	headers := map[string]string{"Idempotency-Key": "advance-once"}
	status, first := b.do(t, http.MethodPost, "/v1/test_helpers/test_clocks/"+sandbox.DefaultClock+"/advance", form, headers)
	require.Equal(t, http.StatusOK, status, "%s", first)
	b.clock.Add(time.Hour)
	status, again := b.do(t, http.MethodPost, "/v1/test_helpers/test_clocks/"+sandbox.DefaultClock+"/advance", form, headers)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, string(first), string(again))
	require.Equal(t, to+3600, b.sb.Now().Unix())
	status, _ = b.do(t, http.MethodPost, "/v1/test_helpers/test_clocks/"+sandbox.DefaultClock+"/advance", "frozen_time="+itoa(to+10), headers)
	require.Equal(t, http.StatusBadRequest, status, "the same key with other parameters")

	// A portal session and a dispute update made twice with one key.
	for _, path := range []string{"/v1/billing_portal/sessions", "/v1/subscriptions/" + sub} {
		body := "customer=" + cus
		if strings.HasPrefix(path, "/v1/subscriptions/") {
			body = "metadata[note]=once"
		}
		h := map[string]string{"Idempotency-Key": "key" + path}
		n := b.eventCount(t)
		s1, r1 := b.do(t, http.MethodPost, path, body, h)
		s2, r2 := b.do(t, http.MethodPost, path, body, h)
		require.Equal(t, http.StatusOK, s1, "%s", r1)
		require.Equal(t, s1, s2)
		require.JSONEq(t, string(r1), string(r2))
		require.Equal(t, n+1, b.eventCount(t), "%s: one event", path)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
