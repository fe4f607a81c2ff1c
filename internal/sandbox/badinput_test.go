package sandbox_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// state is what a bad request must leave alone: every stored row, and the
// counts the API shows.
type state struct {
	rows   map[string]string
	counts map[string]int
}

func (b *bundle) state(t *testing.T) state {
	t.Helper()
	rows, err := b.db.Read.QueryContext(context.Background(), `SELECT id, data FROM sandbox_objects`)
	require.NoError(t, err)
	defer rows.Close()
	s := state{rows: map[string]string{}, counts: map[string]int{}}
	for rows.Next() {
		var id string
		var data []byte
		require.NoError(t, rows.Scan(&id, &data))
		s.rows[id] = string(data)
	}
	require.NoError(t, rows.Err())
	for _, path := range []string{"/v1/events", "/v1/customers", "/v1/checkout/sessions", "/v1/charges", "/v1/refunds"} {
		s.counts[path] = b.count(t, path)
	}
	return s
}

// Requests that Stripe refuses are refused with its status and error, in its
// shape, and change nothing: no object, event, delivery or idempotency key.
func TestBadInputChangesNothing(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		cs := b.newSession(t, "PU-BAD")
		_, err := b.pay(cs.ID, "pm_card_visa")
		require.NoError(t, err)
		var charge string
		for ch, err := range b.client.V1Charges.List(ctx, nil) {
			require.NoError(t, err)
			charge = ch.ID
		}
		b.settle(t)
		before := b.state(t)
		require.Equal(t, 1, before.counts["/v1/charges"])

		session := url.Values{
			"mode":                    {"payment"},
			"success_url":             {"http://127.0.0.1:8080/done"},
			"line_items[0][price]":    {"price_pro_annual"},
			"line_items[0][quantity]": {"1"},
		}
		with := func(v url.Values, kv ...string) string {
			c := url.Values{}
			for k, vs := range v {
				c[k] = slices.Clone(vs)
			}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					c.Del(kv[i])
				} else {
					c.Set(kv[i], kv[i+1])
				}
			}
			return c.Encode()
		}

		for _, tc := range []struct {
			name         string
			method, path string
			headers      map[string]string
			body         string
			status       int
			errType      string
			code, param  string
			message      string
		}{
			{name: "no API key", method: "POST", path: "/v1/customers", body: "email=a@example.com",
				headers: map[string]string{"Authorization": ""},
				status:  401, errType: "invalid_request_error", message: "You did not provide an API key"},
			{name: "live key", method: "POST", path: "/v1/customers", body: "email=a@example.com",
				headers: map[string]string{"Authorization": "Bearer sk_live_0123456789abcdef"},
				status:  401, errType: "invalid_request_error", message: "test mode keys"},
			{name: "garbage key", method: "GET", path: "/v1/customers",
				headers: map[string]string{"Authorization": "Bearer hunter2-hunter2"},
				status:  401, errType: "invalid_request_error", message: "Invalid API Key provided: ***************"},
			{name: "key in basic auth, not a key", method: "POST", path: "/v1/customers", body: "email=a@example.com",
				headers: map[string]string{"Authorization": "Basic !!!"},
				status:  401, errType: "invalid_request_error", message: "You did not provide an API key"},
			{name: "unknown parameter", method: "POST", path: "/v1/customers", body: "email=a@example.com&favourite_colour=blue",
				status: 400, errType: "invalid_request_error", param: "favourite_colour", message: "Received unknown parameter: favourite_colour"},
			{name: "malformed brackets", method: "POST", path: "/v1/checkout/sessions", body: "mode=payment&line_items[0[price]=x",
				status: 400, errType: "invalid_request_error", param: "line_items[0[price]", message: "unbalanced brackets"},
			{name: "missing mode", method: "POST", path: "/v1/checkout/sessions", body: with(session, "mode", ""),
				status: 400, errType: "invalid_request_error", param: "mode", message: "Missing required param: mode."},
			{name: "mode not in enum", method: "POST", path: "/v1/checkout/sessions", body: with(session, "mode", "gift"),
				status: 400, errType: "invalid_request_error", param: "mode", message: "Invalid mode: must be one of payment, setup, or subscription"},
			{name: "unknown price", method: "POST", path: "/v1/checkout/sessions", body: with(session, "line_items[0][price]", "price_nope"),
				status: 404, errType: "invalid_request_error", code: "resource_missing", param: "line_items[0][price]", message: "No such price: 'price_nope'"},
			{name: "quantity not a number", method: "POST", path: "/v1/checkout/sessions", body: with(session, "line_items[0][quantity]", "lots"),
				status: 400, errType: "invalid_request_error", param: "line_items[0][quantity]", message: "Invalid integer: lots"},
			{name: "JSON body", method: "POST", path: "/v1/customers", body: `{"email": "a@example.com"}`,
				headers: map[string]string{"Content-Type": "application/json"},
				status:  400, errType: "invalid_request_error", message: "form-encoded"},
			{name: "body over 1 MiB", method: "POST", path: "/v1/customers", body: "description=" + strings.Repeat("x", 1<<20),
				status: 413, errType: "invalid_request_error", message: "too large"},
			{name: "unknown URL", method: "GET", path: "/v1/nope",
				status: 404, errType: "invalid_request_error", message: "Unrecognized request URL (GET: /v1/nope)"},
			{name: "unknown URL, POST", method: "POST", path: "/v1/nope", body: "a=b",
				status: 404, errType: "invalid_request_error", message: "Unrecognized request URL (POST: /v1/nope)"},
			{name: "wrong method", method: "PUT", path: "/v1/customers", body: "email=a@example.com",
				status: 404, errType: "invalid_request_error", message: "Unrecognized request URL (PUT: /v1/customers)"},
			{name: "wrong method on an object", method: "DELETE", path: "/v1/checkout/sessions/" + cs.ID,
				status: 404, errType: "invalid_request_error", message: "Unrecognized request URL (DELETE: /v1/checkout/sessions/"},
			{name: "invalid expand on create", method: "POST", path: "/v1/customers", body: "email=a@example.com&expand[]=everything",
				status: 400, errType: "invalid_request_error", param: "expand", message: "This property cannot be expanded (everything)"},
			{name: "invalid expand on read", method: "GET", path: "/v1/checkout/sessions/" + cs.ID + "?expand[]=payment_intent.nothing",
				status: 400, errType: "invalid_request_error", param: "expand", message: "This property cannot be expanded (nothing)"},
			{name: "refund over the charge", method: "POST", path: "/v1/refunds", body: "charge=" + charge + "&amount=24901",
				status: 400, errType: "invalid_request_error", code: "amount_too_large", param: "amount", message: "greater than unrefunded amount"},
			{name: "refund of nothing", method: "POST", path: "/v1/refunds", body: "charge=" + charge + "&amount=0",
				status: 400, errType: "invalid_request_error", param: "amount", message: "Invalid positive integer"},
			{name: "pay a complete session", method: "POST", path: "/v1/test_helpers/checkout/sessions/" + cs.ID + "/pay", body: "payment_method=pm_card_visa",
				status: 400, errType: "invalid_request_error", param: "session", message: "no longer active"},
			{name: "idempotency key too long", method: "POST", path: "/v1/customers", body: "email=a@example.com",
				headers: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)},
				status:  400, errType: "invalid_request_error", message: "at most 255 characters"},
			{name: "same idempotency key, other parameters", method: "POST", path: "/v1/checkout/sessions", body: with(session, "line_items[0][quantity]", "2"),
				headers: map[string]string{"Idempotency-Key": "checkout-PU-BAD"},
				status:  400, errType: "idempotency_error", message: "checkout-PU-BAD"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := b.do(t, tc.method, tc.path, tc.body, tc.headers)
				require.Equal(t, tc.status, status, "%s", body)
				e := requireStripeError(t, body)
				require.Equal(t, tc.errType, e.Error.Type)
				require.Equal(t, tc.code, e.Error.Code)
				require.Equal(t, tc.param, e.Error.Param)
				require.Contains(t, e.Error.Message, tc.message)

				after := b.state(t)
				require.Equal(t, before.counts, after.counts, "the API shows the same objects")
				require.Equal(t, before.rows, after.rows, "the database holds the same rows")
			})
		}
	})
}

// Paying a session whose customer was deleted is refused with an error,
// not a crash.
func TestPaySessionOfDeletedCustomer(t *testing.T) {
	ctx := context.Background()
	b := setup(t, sqldb.SQLite, setupOpts{})
	cu, err := b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{})
	require.NoError(t, err)
	cs, err := b.client.V1CheckoutSessions.Create(ctx, &stripe.CheckoutSessionCreateParams{
		Mode:       stripe.String("payment"),
		Customer:   stripe.String(cu.ID),
		SuccessURL: stripe.String("http://127.0.0.1:8080/done"),
		LineItems:  []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_pro_annual"), Quantity: stripe.Int64(1)}},
	})
	require.NoError(t, err)
	_, err = b.client.V1Customers.Delete(ctx, cu.ID, nil)
	require.NoError(t, err)

	b.settle(t)
	before := b.state(t)
	_, err = b.pay(cs.ID, "pm_card_visa")
	var se *stripe.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusBadRequest, se.HTTPStatusCode)
	require.Equal(t, "customer", se.Param)
	require.Contains(t, se.Msg, cu.ID)
	after := b.state(t)
	require.Equal(t, before.rows, after.rows, "a refused payment changes nothing")
}
