package stripespec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixtures returns stripe-mock's example objects (fixtures3.json "resources"),
// keyed by resource name, freshly decoded so that tests may mutate them.
func fixtures(t *testing.T) map[string]map[string]any {
	t.Helper()
	path, err := specPath()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(path), "fixtures3.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct{ Resources map[string]map[string]any }
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	return fx.Resources
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantErr asserts that err is non-nil and mentions every one of wants.
func wantErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

func TestLoad(t *testing.T) {
	start := time.Now()
	v, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Load took %v", time.Since(start))
	if again, _ := Load(); again != v {
		t.Error("Load does not cache the Validator")
	}
}

func TestFixturesValidate(t *testing.T) {
	v := Must(t)
	fx := fixtures(t)
	for _, name := range []string{
		"checkout.session", "payment_intent", "charge", "refund", "customer",
		"price", "product", "event", "webhook_endpoint", "subscription",
		"invoice", "dispute", "test_helpers.test_clock", "setup_intent",
		"payment_method", "coupon", "invoiceitem", "balance_transaction",
		"deleted_customer", "deleted_product", "deleted_webhook_endpoint",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			obj, ok := fx[name]
			if !ok {
				t.Fatalf("no fixture %q", name)
			}
			if err := v.Object(encode(t, obj)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestAllFixtures guards against false positives: every stripe-mock example
// of an object type in the spec validates, bar a few fixture defects.
func TestAllFixtures(t *testing.T) {
	v := Must(t)
	skip := map[string]string{
		// "currency": "currency" is a generator placeholder, not a currency.
		"treasury.outbound_payment":  "placeholder currency",
		"treasury.outbound_transfer": "placeholder currency",
	}
	n := 0
	for name, obj := range fixtures(t) {
		typ, _ := obj["object"].(string)
		if v.schema(typ) == nil || skip[name] != "" {
			continue // beta-only types such as reserve.hold are not in spec3.json
		}
		n++
		if err := v.Object(encode(t, obj)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n < 150 {
		t.Errorf("only %d fixtures checked", n)
	}
}

func TestMutations(t *testing.T) {
	v := Must(t)
	for _, tc := range []struct {
		name, fixture string
		mutate        func(m map[string]any)
		want          []string
	}{
		{"missing required", "charge", func(m map[string]any) { delete(m, "amount") },
			[]string{`/amount: property "amount" is missing`}},
		{"string for integer", "payment_intent", func(m map[string]any) { m["amount"] = "2000" },
			[]string{`/amount: value must be an integer (got "2000")`}},
		{"fraction for integer", "refund", func(m map[string]any) { m["amount"] = 12.5 },
			[]string{"/amount: value must be an integer"}},
		{"bad enum", "payment_intent", func(m map[string]any) { m["status"] = "bogus" },
			[]string{"/status: value is not one of the allowed values", `"succeeded"`, `(got "bogus")`}},
		{"bad enum in checkout session", "checkout.session", func(m map[string]any) { m["mode"] = "bogus" },
			[]string{"/mode: value is not one of the allowed values"}},
		{"null where not nullable", "charge", func(m map[string]any) { m["paid"] = nil },
			[]string{"/paid: Value is not nullable"}},
		{"non-string metadata value", "customer", func(m map[string]any) { m["metadata"] = map[string]any{"order": 42} },
			[]string{"/metadata/order: value must be a string"}},
		{"uppercase currency", "price", func(m map[string]any) { m["currency"] = "USD" },
			[]string{`/currency: string doesn't match the format "currency"`, `(got "USD")`}},
		{"bad decimal", "price", func(m map[string]any) { m["unit_amount_decimal"] = "12,50" },
			[]string{`/unit_amount_decimal: string doesn't match the format "decimal"`}},
		{"bad field in expanded object", "charge", func(m map[string]any) {
			m["customer"] = map[string]any{"object": "customer", "id": 7, "deleted": true}
		}, []string{"/customer/id: value must be a string"}},
		{"wrong type for expandable field", "charge", func(m map[string]any) { m["customer"] = 7 },
			[]string{"/customer: integer matches none of string, customer, deleted_customer"}},
		{"wrong object for expandable field", "refund", func(m map[string]any) {
			m["charge"] = map[string]any{"object": "customer", "id": "cus_1"}
		}, []string{`/charge: "customer" object matches none of string, charge`}},
		{"bad nested enum", "subscription", func(m map[string]any) {
			m["items"].(map[string]any)["data"].([]any)[0].(map[string]any)["object"] = "bogus"
		}, []string{"/items/data/0/object: value is not one of the allowed values"}},
		{"bad event data.object", "event", func(m map[string]any) {
			m["data"].(map[string]any)["object"].(map[string]any)["interval"] = "fortnight"
		}, []string{"/data/object/interval: value is not one of the allowed values"}},
		{"unknown event data.object", "event", func(m map[string]any) {
			m["data"].(map[string]any)["object"].(map[string]any)["object"] = "bogus"
		}, []string{`/data/object: Stripe has no object type "bogus"`}},
		{"unknown object", "customer", func(m map[string]any) { m["object"] = "customr" },
			[]string{`(root): Stripe has no object type "customr"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obj := fixtures(t)[tc.fixture]
			tc.mutate(obj)
			wantErr(t, v.Object(encode(t, obj)), tc.want...)
		})
	}
}

func TestDeleted(t *testing.T) {
	v := Must(t)
	if err := v.Object([]byte(`{"id":"cus_1","object":"customer","deleted":true}`)); err != nil {
		t.Errorf("deleted customer: %v", err)
	}
	wantErr(t, v.Object([]byte(`{"object":"customer","deleted":true}`)), `/id: property "id" is missing`)
	// Stripe has no deleted charge, so this is checked as a charge.
	wantErr(t, v.Object([]byte(`{"id":"ch_1","object":"charge","deleted":true}`)),
		`/amount: property "amount" is missing`)
}

func TestList(t *testing.T) {
	v := Must(t)
	fx := fixtures(t)
	list := map[string]any{"object": "list", "url": "/v1/events", "has_more": false,
		"data": []any{fx["charge"], fx["refund"], fx["event"]}}
	if err := v.Object(encode(t, list)); err != nil {
		t.Error(err)
	}
	fx["refund"]["status"] = 3
	delete(list, "has_more")
	wantErr(t, v.Object(encode(t, list)),
		`/has_more: property "has_more" is missing`,
		"/data/1/status: value must be a string")
	wantErr(t, v.Object([]byte(`{"object":"list","url":"/v1/x","has_more":false,"data":[{"id":"x"}]}`)),
		`/data/0: not a Stripe object`)
}

func TestError(t *testing.T) {
	v := Must(t)
	ok := `{"error":{"type":"invalid_request_error","code":"resource_missing",
		"message":"No such customer: 'cus_1'","param":"id","doc_url":"https://stripe.com/docs/error-codes/resource-missing"}}`
	if err := v.Error([]byte(ok)); err != nil {
		t.Error(err)
	}
	wantErr(t, v.Error([]byte(`{"error":{"type":"not_found","message":"nope"}}`)),
		"/error/type: value is not one of the allowed values", `(got "not_found")`)
	wantErr(t, v.Error([]byte(`{"message":"nope"}`)), `/error: property "error" is missing`)
	wantErr(t, v.Error([]byte(`{"error":`)), "invalid JSON")
}

func TestResponse(t *testing.T) {
	v := Must(t)
	fx := fixtures(t)
	charges := func() []byte {
		return encode(t, map[string]any{"object": "list", "url": "/v1/charges", "has_more": true,
			"data": []any{fx["charge"], fx["charge"]}})
	}
	notFound := []byte(`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such charge"}}`)

	for _, tc := range []struct {
		method, path string
		status       int
		body         []byte
	}{
		{"GET", "/v1/charges", 200, charges()},
		{"get", "/v1/charges?limit=2&customer=cus_1", 200, charges()},
		{"GET", "/v1/charges/ch_404", 404, notFound},
		{"POST", "/v1/charges/ch_1/capture", 402, notFound},
		{"GET", "/v1/checkout/sessions/cs_test_1", 200, encode(t, fx["checkout.session"])},
		{"POST", "/v1/checkout/sessions", 200, encode(t, fx["checkout.session"])},
		{"DELETE", "/v1/customers/cus_1", 200, []byte(`{"id":"cus_1","object":"customer","deleted":true}`)},
		{"GET", "/v1/customers/search", 200, encode(t, map[string]any{"object": "search_result",
			"url": "/v1/customers/search", "has_more": false, "next_page": nil, "data": []any{fx["customer"]}})},
		{"GET", "/v1/events/evt_1", 200, encode(t, fx["event"])},
		{"GET", "/v1/quotes/qt_1/pdf", 200, []byte("%PDF-1.7")}, // not JSON: not checked
	} {
		if err := v.Response(tc.method, tc.path, tc.status, tc.body); err != nil {
			t.Errorf("%s %s %d: %v", tc.method, tc.path, tc.status, err)
		}
	}

	fx["charge"]["amount"] = "lots"
	wantErr(t, v.Response("GET", "/v1/charges", 200, charges()),
		"GET /v1/charges status 200", "/data/0/amount: value must be an integer", "/data/1/amount")
	wantErr(t, v.Response("GET", "/v1/charges/ch_404", 404, []byte(`{"message":"not found"}`)),
		"[/v1/charges/{charge}] status 404", `/error: property "error" is missing`)
	wantErr(t, v.Response("GET", "/v1/charges/ch_1", 200, notFound), `/amount: property "amount" is missing`)
	wantErr(t, v.Response("GET", "/v1/charges", 200, []byte(`{"object":"list","url":"/v1/refunds","has_more":false,"data":[]}`)),
		"/url: string doesn't match the regular expression")
	wantErr(t, v.Response("GET", "/v1/customers/search", 200, encode(t, fx["customer"])),
		`/object: value is not one of the allowed values ["search_result"]`)
	fx["event"]["data"].(map[string]any)["object"].(map[string]any)["amount"] = "x"
	wantErr(t, v.Response("GET", "/v1/events", 200, encode(t, map[string]any{"object": "list",
		"url": "/v1/events", "has_more": false, "data": []any{fx["event"]}})),
		"/data/0/data/object/amount: value must be an integer")
	wantErr(t, v.Response("GET", "/v1/charges", 201, charges()), "declares no such response")
	wantErr(t, v.Response("GET", "/v1/chargez", 200, charges()), "no operation GET /v1/chargez")
	wantErr(t, v.Response("PUT", "/v1/charges", 200, charges()), "no operation PUT /v1/charges")
	wantErr(t, v.Response("GET", "/v1/charges", 200, []byte("<html>")), "invalid JSON")
}

func TestOperationMatching(t *testing.T) {
	v := Must(t)
	for path, want := range map[string]string{
		"/v1/customers/search":                  "/v1/customers/search",
		"/v1/customers/cus_1":                   "/v1/customers/{customer}",
		"/v1/customers/cus_1/sources/src_1":     "/v1/customers/{customer}/sources/{id}",
		"/v1/checkout/sessions/cs_1":            "/v1/checkout/sessions/{session}",
		"/v1/checkout/sessions/cs_1/line_items": "/v1/checkout/sessions/{session}/line_items",
		"/v1/test_helpers/test_clocks/clock_1":  "/v1/test_helpers/test_clocks/{test_clock}",
	} {
		if got, op := v.operation("GET", path); got != want || op == nil {
			t.Errorf("GET %s matched %q, want %q", path, got, want)
		}
	}
	if got, _ := v.operation("GET", "/v1/customers//sources"); got != "" {
		t.Errorf("empty segment matched %q", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	v := Must(t)
	body := encode(t, fixtures(t)["payment_intent"])
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := v.Response("GET", "/v1/payment_intents/pi_1", 200, body); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
