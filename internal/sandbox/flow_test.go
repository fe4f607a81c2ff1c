package sandbox_test

import (
	"context"
	"encoding/json"

	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

type payParams struct {
	stripe.Params `form:"*"`
	PaymentMethod *string `form:"payment_method"`
	Email         *string `form:"email"`
}

// pay completes a session through the sandbox's test helper, as a script
// would: POST /v1/test_helpers/checkout/sessions/{id}/pay.
func (b *bundle) pay(id, paymentMethod string) (*stripe.CheckoutSession, error) {
	var cs stripe.CheckoutSession
	err := b.backend.Call(http.MethodPost, "/v1/test_helpers/checkout/sessions/"+id+"/pay", testKey,
		&payParams{PaymentMethod: stripe.String(paymentMethod)}, &cs)
	return &cs, err
}

func (b *bundle) newSession(t *testing.T, ref string) *stripe.CheckoutSession {
	t.Helper()
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(ref),
		CustomerEmail:     stripe.String("ada@example.com"),
		CustomerCreation:  stripe.String("always"),
		SuccessURL:        stripe.String("http://127.0.0.1:8080/checkout/" + ref + "?session_id={CHECKOUT_SESSION_ID}"),
		CancelURL:         stripe.String("http://127.0.0.1:8080/buy/pro-annual"),
		LineItems:         []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_pro_annual"), Quantity: stripe.Int64(1)}},
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: map[string]string{"paidup_checkout": ref}},
	}
	params.AddMetadata("paidup_checkout", ref)
	params.SetIdempotencyKey("checkout-" + ref)
	cs, err := b.client.V1CheckoutSessions.Create(context.Background(), params)
	require.NoError(t, err)
	return cs
}

// The whole story a Go program tells with stripe-go alone: create a checkout
// session, pay it, find the charge by its creation time, refund it, find
// every event, and verify the signed webhooks it delivered.
func TestStripeSDKPaymentFlow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		start := b.clock.Now().Unix()

		cs := b.newSession(t, "PU-4F7K")
		require.Equal(t, stripe.CheckoutSessionStatusOpen, cs.Status)
		require.Equal(t, int64(24900), cs.AmountTotal)
		require.Equal(t, "PU-4F7K", cs.ClientReferenceID)
		require.Contains(t, cs.URL, cs.ID, "the hosted page URL names the session, as Stripe's does")
		require.Nil(t, cs.PaymentIntent, "no payment intent until the customer pays")

		paid, err := b.pay(cs.ID, "pm_card_visa")
		require.NoError(t, err)
		require.Equal(t, stripe.CheckoutSessionStatusComplete, paid.Status)
		require.Equal(t, stripe.CheckoutSessionPaymentStatusPaid, paid.PaymentStatus)
		require.NotNil(t, paid.Customer)
		require.Equal(t, "ada@example.com", paid.CustomerDetails.Email)

		got, err := b.client.V1CheckoutSessions.Retrieve(ctx, cs.ID, &stripe.CheckoutSessionRetrieveParams{
			Params: stripe.Params{Expand: []*string{stripe.String("payment_intent.latest_charge"), stripe.String("line_items")}},
		})
		require.NoError(t, err)
		pi := got.PaymentIntent
		require.Equal(t, stripe.PaymentIntentStatusSucceeded, pi.Status)
		require.Equal(t, "PU-4F7K", pi.Metadata["paidup_checkout"])
		require.Equal(t, int64(24900), pi.LatestCharge.Amount)
		require.Equal(t, "4242", pi.LatestCharge.PaymentMethodDetails.Card.Last4)
		require.Len(t, got.LineItems.Data, 1)
		require.Equal(t, "price_pro_annual", got.LineItems.Data[0].Price.ID)

		var charges []*stripe.Charge
		for ch, err := range b.client.V1Charges.List(ctx, &stripe.ChargeListParams{
			ListParams:   stripe.ListParams{Limit: stripe.Int64(100)},
			CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: start},
		}) {
			require.NoError(t, err)
			charges = append(charges, ch)
		}
		require.Len(t, charges, 1)
		require.Equal(t, pi.LatestCharge.ID, charges[0].ID)
		for range b.client.V1Charges.List(ctx, &stripe.ChargeListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThan: start + 3600}}) {
			t.Fatal("a created filter in the future must match nothing")
		}

		re, err := b.client.V1Refunds.Create(ctx, &stripe.RefundCreateParams{Charge: stripe.String(charges[0].ID)})
		require.NoError(t, err)
		require.Equal(t, int64(24900), re.Amount)
		require.Equal(t, stripe.RefundStatusSucceeded, re.Status)
		ch, err := b.client.V1Charges.Retrieve(ctx, charges[0].ID, nil)
		require.NoError(t, err)
		require.True(t, ch.Refunded)
		_, err = b.client.V1Refunds.Create(ctx, &stripe.RefundCreateParams{Charge: stripe.String(ch.ID)})
		var se *stripe.Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, stripe.ErrorCodeChargeAlreadyRefunded, se.Code)

		want := []string{"customer.created", "payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
			"checkout.session.completed", "refund.created", "charge.refunded"}
		var types []string
		for ev, err := range b.client.V1Events.List(ctx, &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: start}}) {
			require.NoError(t, err)
			types = append(types, string(ev.Type))
		}
		slices.Reverse(types) // the API lists newest first
		require.Equal(t, want, withoutCatalog(types))

		received := b.hooks.waitFor(t, "every event delivered", func(got []string) bool { return len(withoutCatalog(got)) == len(want) })
		require.ElementsMatch(t, want, withoutCatalog(received))
		for _, d := range b.hooks.got {
			ev, err := webhook.ConstructEvent(d.Body, d.Signature, webhookSecret)
			require.NoError(t, err, "stripe-go verifies the sandbox's signature and API version")
			if ev.Type == "checkout.session.completed" {
				var s stripe.CheckoutSession
				require.NoError(t, s.UnmarshalJSON(ev.Data.Raw))
				require.Equal(t, cs.ID, s.ID)
				require.Equal(t, "PU-4F7K", s.ClientReferenceID)
			}
			_, err = webhook.ConstructEvent(d.Body, d.Signature, "whsec_wrong")
			require.Error(t, err)
		}
		require.Eventually(t, func() bool {
			for range b.client.V1Events.List(ctx, &stripe.EventListParams{DeliverySuccess: stripe.Bool(false)}) {
				return false
			}
			return true
		}, 5*time.Second, 20*time.Millisecond, "once delivered, no event is listed as undelivered")
	})
}

// withoutCatalog drops the product and price events the sandbox emits when
// it seeds the configured prices.
func withoutCatalog(types []string) []string {
	return slices.DeleteFunc(slices.Clone(types), func(s string) bool {
		return s == "product.created" || s == "price.created" || s == "product.updated" || s == "price.updated"
	})
}

// A declined card leaves the session open with a failed charge; paying
// again with a good card completes it on the same payment intent.
func TestDeclinedCardThenSuccess(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		cs := b.newSession(t, "PU-DECL")

		_, err := b.pay(cs.ID, "pm_card_chargeDeclined")
		var se *stripe.Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusPaymentRequired, se.HTTPStatusCode)
		require.Equal(t, stripe.ErrorTypeCard, se.Type)
		require.Equal(t, stripe.ErrorCodeCardDeclined, se.Code)
		require.Equal(t, stripe.DeclineCodeGenericDecline, se.DeclineCode)
		require.Equal(t, "Your card was declined.", se.Msg)

		open, err := b.client.V1CheckoutSessions.Retrieve(ctx, cs.ID, nil)
		require.NoError(t, err)
		require.Equal(t, stripe.CheckoutSessionStatusOpen, open.Status)
		require.Equal(t, stripe.CheckoutSessionPaymentStatusUnpaid, open.PaymentStatus)
		require.NotNil(t, open.PaymentIntent)
		firstPI := open.PaymentIntent.ID

		paid, err := b.pay(cs.ID, "pm_card_visa")
		require.NoError(t, err)
		require.Equal(t, firstPI, paid.PaymentIntent.ID)

		var statuses []stripe.ChargeStatus
		for ch, err := range b.client.V1Charges.List(ctx, &stripe.ChargeListParams{PaymentIntent: stripe.String(firstPI)}) {
			require.NoError(t, err)
			statuses = append(statuses, ch.Status)
		}
		require.Equal(t, []stripe.ChargeStatus{stripe.ChargeStatusSucceeded, stripe.ChargeStatusFailed}, statuses)

		_, err = b.pay(cs.ID, "pm_card_visa")
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode, "a complete session cannot be paid twice")
	})
}

// Idempotency keys behave as Stripe documents: the same key with the same
// parameters replays the first response; with other parameters it is an
// error; a declined card's response is replayed too.
func TestIdempotencyKeys(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		first := b.newSession(t, "PU-IDEM")
		again := b.newSession(t, "PU-IDEM")
		require.Equal(t, first.ID, again.ID, "same key, same params: same session")
		require.Equal(t, first.URL, again.URL)

		n := 0
		for range b.client.V1CheckoutSessions.List(ctx, nil) {
			n++
		}
		require.Equal(t, 1, n, "a replayed request creates nothing")

		params := &stripe.CheckoutSessionCreateParams{
			Mode:       stripe.String("payment"),
			SuccessURL: stripe.String("http://127.0.0.1:8080/other"),
			LineItems:  []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_pro_annual"), Quantity: stripe.Int64(2)}},
		}
		params.SetIdempotencyKey("checkout-PU-IDEM")
		_, err := b.client.V1CheckoutSessions.Create(ctx, params)
		var se *stripe.Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, stripe.ErrorTypeIdempotency, se.Type)
		require.Contains(t, se.Msg, "checkout-PU-IDEM")
	})
}

func TestListPagination(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	ctx := context.Background()
	var ids []string
	for i := range 25 {
		cu, err := b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("c" + string(rune('a'+i)) + "@example.com")})
		require.NoError(t, err)
		ids = append(ids, cu.ID)
		if i == 12 {
			b.clock.Add(time.Hour)
		}
	}
	slices.Reverse(ids) // newest first, as lists are

	var got []string
	for cu, err := range b.client.V1Customers.List(ctx, &stripe.CustomerListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(10)}}) {
		require.NoError(t, err)
		got = append(got, cu.ID)
	}
	require.Equal(t, ids, got, "auto-pagination with starting_after visits every customer once, newest first")

	var page stripe.CustomerList
	status, body := b.get(t, "/v1/customers?limit=5&ending_before="+ids[10])
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &page))
	require.True(t, page.HasMore)
	require.Equal(t, ids[5:10], idsOf(page.Data), "ending_before returns the page just before the cursor")

	got = nil
	for cu, err := range b.client.V1Customers.List(ctx, &stripe.CustomerListParams{CreatedRange: &stripe.RangeQueryParams{LesserThan: b.clock.Now().Unix()}}) {
		require.NoError(t, err)
		got = append(got, cu.ID)
	}
	require.Equal(t, ids[12:], got, "created[lt] keeps the customers made before the clock moved")

	status, body = b.get(t, "/v1/customers?limit=101")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(body), `"param": "limit"`)
	status, _ = b.get(t, "/v1/customers?starting_after=cus_missing")
	require.Equal(t, http.StatusNotFound, status)
}

func idsOf(cs []*stripe.Customer) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// Sessions expire at expires_at on the sandbox's clock, with an event, and
// cannot be paid afterwards.
func TestSessionExpiry(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	ctx := context.Background()
	cs := b.newSession(t, "PU-EXP")
	b.clock.Add(25 * time.Hour)
	b.hooks.waitFor(t, "checkout.session.expired", func(got []string) bool { return slices.Contains(got, "checkout.session.expired") })
	got, err := b.client.V1CheckoutSessions.Retrieve(ctx, cs.ID, nil)
	require.NoError(t, err)
	require.Equal(t, stripe.CheckoutSessionStatusExpired, got.Status)
	_, err = b.pay(cs.ID, "pm_card_visa")
	require.Error(t, err)

	open := b.newSession(t, "PU-EXP2")
	expired, err := b.client.V1CheckoutSessions.Expire(ctx, open.ID, nil)
	require.NoError(t, err)
	require.Equal(t, stripe.CheckoutSessionStatusExpired, expired.Status)
	_, err = b.client.V1CheckoutSessions.Expire(ctx, open.ID, nil)
	require.Error(t, err)
}

// Without a database the sandbox keeps its state in memory, as a load
// test's stand-in: the same payment flow works, answers as Stripe's spec
// says, and its webhooks are delivered; a new sandbox starts empty.
func TestInMemory(t *testing.T) {
	ctx := context.Background()
	b := setup(t, sqldb.SQLite, setupOpts{memory: true})
	cs := b.newSession(t, "PU-M3M0")
	paid, err := b.pay(cs.ID, "pm_card_visa")
	require.NoError(t, err)
	require.Equal(t, stripe.CheckoutSessionPaymentStatusPaid, paid.PaymentStatus)
	got, err := b.client.V1CheckoutSessions.Retrieve(ctx, cs.ID, nil)
	require.NoError(t, err)
	require.Equal(t, stripe.CheckoutSessionStatusComplete, got.Status)
	b.hooks.waitFor(t, "checkout.session.completed", func(got []string) bool { return slices.Contains(got, "checkout.session.completed") })
	status, body := b.get(t, "/healthz")
	require.Equal(t, http.StatusOK, status, string(body))

	b.stop()
	b.srv = nil
	b.start(t, nil)
	status, _ = b.get(t, "/v1/checkout/sessions/"+cs.ID)
	require.Equal(t, http.StatusNotFound, status, "nothing survives the process")
}
