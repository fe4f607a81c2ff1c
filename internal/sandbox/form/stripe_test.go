package form_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v84"
	stripeform "github.com/stripe/stripe-go/v84/form"

	"github.com/paidup/paidup/internal/sandbox/form"
)

// encode form-encodes params exactly as stripe-go puts them on the wire.
func encode(params any) string {
	var v stripeform.Values
	stripeform.AppendTo(&v, params)
	return v.Encode()
}

func decodeStripe[T any](t *testing.T, params any) T {
	t.Helper()
	raw := encode(params)
	v, err := form.Parse(raw)
	require.NoError(t, err, raw)
	var dst T
	require.NoError(t, form.Decode(v, &dst), raw)
	return dst
}

func TestStripeCheckoutSession(t *testing.T) {
	params := &stripe.CheckoutSessionCreateParams{
		Mode:                stripe.String(string(stripe.CheckoutSessionModePayment)),
		SuccessURL:          stripe.String("https://example.com/ok?session={CHECKOUT_SESSION_ID}&x=1"),
		CustomerEmail:       stripe.String("jo+test@example.com"),
		AllowPromotionCodes: stripe.Bool(false),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{
			{Price: stripe.String("price_1"), Quantity: stripe.Int64(1)},
			{Price: stripe.String("price_2"), Quantity: stripe.Int64(12), TaxRates: []*string{stripe.String("txr_1")}},
		},
		Metadata: map[string]string{"order": "42", "note": "a b&c=d [x]", "gone": ""},
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{
			Description: stripe.String("Order #42"),
			Metadata:    map[string]string{"ref": "x"},
		},
	}
	params.AddExpand("payment_intent")
	params.AddExpand("customer")

	type item struct {
		Price    string   `form:"price,required"`
		Quantity int64    `form:"quantity"`
		TaxRates []string `form:"tax_rates"`
	}
	type session struct {
		Mode              string            `form:"mode,required" enum:"payment|setup|subscription"`
		SuccessURL        string            `form:"success_url"`
		CustomerEmail     *string           `form:"customer_email"`
		AllowPromotion    *bool             `form:"allow_promotion_codes"`
		LineItems         []item            `form:"line_items"`
		Metadata          map[string]string `form:"metadata"`
		PaymentIntentData struct {
			Description string            `form:"description"`
			Metadata    map[string]string `form:"metadata"`
		} `form:"payment_intent_data"`
		Expand []string `form:"expand"`
	}
	got := decodeStripe[session](t, params)

	require.Equal(t, "payment", got.Mode)
	require.Equal(t, "https://example.com/ok?session={CHECKOUT_SESSION_ID}&x=1", got.SuccessURL)
	require.Equal(t, ptr("jo+test@example.com"), got.CustomerEmail)
	require.Equal(t, ptr(false), got.AllowPromotion)
	require.Equal(t, []item{
		{Price: "price_1", Quantity: 1},
		{Price: "price_2", Quantity: 12, TaxRates: []string{"txr_1"}},
	}, got.LineItems)
	require.Equal(t, map[string]string{"order": "42", "note": "a b&c=d [x]", "gone": ""}, got.Metadata)
	require.Equal(t, "Order #42", got.PaymentIntentData.Description)
	require.Equal(t, map[string]string{"ref": "x"}, got.PaymentIntentData.Metadata)
	require.Equal(t, []string{"payment_intent", "customer"}, got.Expand)
}

func TestStripeUnknownParameter(t *testing.T) {
	params := &stripe.CheckoutSessionCreateParams{
		Mode:      stripe.String("payment"),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_1")}},
	}
	params.LineItems[0].AddMetadata("k", "v")
	v, err := form.Parse(encode(params))
	require.NoError(t, err)

	var dst struct {
		Mode      string `form:"mode"`
		LineItems []struct {
			Price string `form:"price"`
		} `form:"line_items"`
	}
	require.Equal(t, &form.Error{
		Param:   "line_items[0][metadata]",
		Message: "Received unknown parameter: line_items[0][metadata]",
	}, form.Decode(v, &dst))
}

func TestStripeClearing(t *testing.T) {
	// stripe-go sends an explicitly empty slice as "expand=" and Stripe's
	// documented way to clear metadata is "metadata=".
	params := &stripe.CustomerUpdateParams{Expand: []*string{}}
	params.AddExtra("metadata", "")

	got := decodeStripe[struct {
		Metadata map[string]string `form:"metadata"`
		Expand   []string          `form:"expand"`
	}](t, params)
	require.Equal(t, map[string]string{}, got.Metadata)
	require.Equal(t, []string{}, got.Expand)
}

func TestStripeChargeList(t *testing.T) {
	type chargeList struct {
		Created       *form.Range `form:"created"`
		Customer      *string     `form:"customer"`
		Limit         *int64      `form:"limit"`
		StartingAfter *string     `form:"starting_after"`
		Expand        []string    `form:"expand"`
	}

	ranged := &stripe.ChargeListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: 1700000000, LesserThan: 1800000000},
		Customer:     stripe.String("cus_1"),
		ListParams:   stripe.ListParams{Limit: stripe.Int64(3), StartingAfter: stripe.String("ch_9")},
	}
	ranged.AddExpand("data.customer")
	got := decodeStripe[chargeList](t, ranged)
	require.Equal(t, chargeList{
		Created:       &form.Range{Gte: ptr(int64(1700000000)), Lt: ptr(int64(1800000000))},
		Customer:      ptr("cus_1"),
		Limit:         ptr(int64(3)),
		StartingAfter: ptr("ch_9"),
		Expand:        []string{"data.customer"},
	}, got)
	require.True(t, got.Created.Contains(1700000000))
	require.False(t, got.Created.Contains(1800000000))

	all := &stripe.ChargeListParams{CreatedRange: &stripe.RangeQueryParams{
		GreaterThan: 1, GreaterThanOrEqual: 2, LesserThan: 3, LesserThanOrEqual: 4,
	}}
	require.Equal(t, &form.Range{Gt: ptr(int64(1)), Gte: ptr(int64(2)), Lt: ptr(int64(3)), Lte: ptr(int64(4))},
		decodeStripe[chargeList](t, all).Created)

	exact := &stripe.ChargeListParams{Created: stripe.Int64(1700000000)}
	require.Equal(t, &form.Range{Eq: ptr(int64(1700000000))}, decodeStripe[chargeList](t, exact).Created)
}
