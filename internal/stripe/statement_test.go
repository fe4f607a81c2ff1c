package stripe_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sandbox/stripespec"
	"github.com/paidup/paidup/internal/stripe"
)

// A one-time payment carries the statement descriptor suffix paidup asks
// for, so that the customer finds the reference on their bank statement;
// the payment and its charge, as the sandbox gives them, are valid Stripe
// objects. A suffix Stripe refuses is refused, with the parameter named.
func TestStatementDescriptorSuffix(t *testing.T) {
	base := sandboxURL(t)
	c := stripe.New(stripe.Config{SecretKey: "sk_test_x", URL: base})
	ctx := context.Background()
	r := request("PU-AAAA-0009")
	r.StatementSuffix = "PU-AAAA-0009"
	co, err := c.CreateCheckout(ctx, r)
	require.NoError(t, err)
	get := func(method, path string) []byte {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer sk_test_x")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		var raw json.RawMessage
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
		return raw
	}
	get(http.MethodPost, "/v1/test_helpers/checkout/sessions/"+co.ID+"/pay?payment_method=pm_card_visa")
	paid, err := c.Checkout(ctx, co.ID)
	require.NoError(t, err)
	v := stripespec.Must(t)
	raw := get(http.MethodGet, "/v1/payment_intents/"+paid.PaymentID+"?expand[]=latest_charge")
	require.NoError(t, v.Object(raw))
	var pi struct {
		Suffix       string `json:"statement_descriptor_suffix"`
		LatestCharge struct {
			Suffix string `json:"statement_descriptor_suffix"`
		} `json:"latest_charge"`
	}
	require.NoError(t, json.Unmarshal(raw, &pi))
	require.Equal(t, "PU-AAAA-0009", pi.Suffix)
	require.Equal(t, "PU-AAAA-0009", pi.LatestCharge.Suffix)

	for _, bad := range []string{"PU-AAAA-0009-AND-MORE-TEXT", "0000-0000", `PU*"1"`} {
		r := request("PU-AAAA-0010")
		r.StatementSuffix = bad
		_, err := c.CreateCheckout(ctx, r)
		require.ErrorContains(t, err, "statement_descriptor_suffix", bad)
	}
}
