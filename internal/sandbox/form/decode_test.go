package form_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sandbox/form"
)

type lineItem struct {
	Price    string            `form:"price,required"`
	Quantity *int64            `form:"quantity"`
	TaxRates []string          `form:"tax_rates"`
	Metadata map[string]string `form:"metadata"`
}

type paymentIntentData struct {
	Description *string           `form:"description"`
	Metadata    map[string]string `form:"metadata"`
}

type sessionParams struct {
	Mode              string             `form:"mode,required" enum:"payment|setup|subscription"`
	UIMode            *string            `form:"ui_mode" enum:"hosted|embedded"`
	PaymentMethods    []string           `form:"payment_method_types" enum:"card|link"`
	CustomerEmail     *string            `form:"customer_email"`
	LineItems         []lineItem         `form:"line_items"`
	Metadata          map[string]string  `form:"metadata"`
	PaymentIntentData *paymentIntentData `form:"payment_intent_data"`
	Expand            []string           `form:"expand"`
	Created           *form.Range        `form:"created"`
	Amount            int64              `form:"amount"`
	Limit             *int64             `form:"limit"`
	Capture           bool               `form:"capture"`
	AllowPromotion    *bool              `form:"allow_promotion_codes"`
	Internal          string
}

func decode(t *testing.T, raw string) (sessionParams, error) {
	t.Helper()
	v, err := form.Parse(raw)
	require.NoError(t, err)
	var p sessionParams
	return p, form.Decode(v, &p)
}

func ptr[T any](v T) *T { return &v }

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want sessionParams
	}{
		{"required only", "mode=payment", sessionParams{Mode: "payment"}},
		{"scalars", "mode=setup&ui_mode=embedded&customer_email=a%40b.c&amount=-5&limit=10&capture=true&allow_promotion_codes=false",
			sessionParams{
				Mode: "setup", UIMode: ptr("embedded"), CustomerEmail: ptr("a@b.c"),
				Amount: -5, Limit: ptr(int64(10)), Capture: true, AllowPromotion: ptr(false),
			}},
		{"line items", "mode=payment&line_items[1][price]=p2&line_items[0][price]=p1&line_items[0][quantity]=3&line_items[0][tax_rates][0]=txr",
			sessionParams{Mode: "payment", LineItems: []lineItem{
				{Price: "p1", Quantity: ptr(int64(3)), TaxRates: []string{"txr"}},
				{Price: "p2"},
			}}},
		{"metadata", "mode=payment&metadata[order]=42&metadata[gone]=&payment_intent_data[metadata][ref]=x",
			sessionParams{
				Mode:              "payment",
				Metadata:          map[string]string{"order": "42", "gone": ""},
				PaymentIntentData: &paymentIntentData{Metadata: map[string]string{"ref": "x"}},
			}},
		{"numeric metadata keys", "mode=payment&metadata[1]=b&metadata[0]=a",
			sessionParams{Mode: "payment", Metadata: map[string]string{"0": "a", "1": "b"}}},
		{"clearing", "mode=payment&metadata=&expand=&line_items[0][price]=p&line_items[0][metadata]=",
			sessionParams{
				Mode: "payment", Metadata: map[string]string{}, Expand: []string{},
				LineItems: []lineItem{{Price: "p", Metadata: map[string]string{}}},
			}},
		{"empty strings unset", "mode=payment&ui_mode=&customer_email=&amount=&limit=&capture=&allow_promotion_codes=&created=&payment_intent_data=",
			sessionParams{Mode: "payment", UIMode: ptr(""), CustomerEmail: ptr("")}},
		{"expand", "mode=payment&expand[]=payment_intent&expand[]=customer",
			sessionParams{Mode: "payment", Expand: []string{"payment_intent", "customer"}}},
		{"enum array", "mode=payment&payment_method_types[0]=card&payment_method_types[1]=link",
			sessionParams{Mode: "payment", PaymentMethods: []string{"card", "link"}}},
		{"created equal", "mode=payment&created=123",
			sessionParams{Mode: "payment", Created: &form.Range{Eq: ptr(int64(123))}}},
		{"created range", "mode=payment&created[gt]=1&created[gte]=2&created[lt]=3&created[lte]=4",
			sessionParams{Mode: "payment", Created: &form.Range{
				Gt: ptr(int64(1)), Gte: ptr(int64(2)), Lt: ptr(int64(3)), Lte: ptr(int64(4)),
			}}},
		{"longest string", "mode=payment&customer_email=" + strings.Repeat("é", 5000),
			sessionParams{Mode: "payment", CustomerEmail: ptr(strings.Repeat("é", 5000))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(t, tt.raw)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	long := strings.Repeat("a", 10) + strings.Repeat("b", 4981) + strings.Repeat("c", 10)
	tests := []struct {
		name string
		raw  string
		want *form.Error
	}{
		{"unknown", "mode=payment&modex=1", &form.Error{Param: "modex", Message: "Received unknown parameter: modex"}},
		{"untagged field", "mode=payment&Internal=x", &form.Error{Param: "Internal", Message: "Received unknown parameter: Internal"}},
		{"unknown hash", "mode=payment&foo[bar]=1", &form.Error{Param: "foo", Message: "Received unknown parameter: foo"}},
		{"unknown nested", "mode=payment&line_items[0][pricex]=p", &form.Error{
			Param: "line_items[0][pricex]", Message: "Received unknown parameter: line_items[0][pricex]",
		}},
		{"first unknown in sorted order", "zzz=1&line_items[1][b]=2&line_items[0][price]=p&line_items[1][a]=1&amount=abc", &form.Error{
			Param: "line_items[1][a]", Message: "Received unknown parameter: line_items[1][a]",
		}},
		{"unknown range bound", "mode=payment&created[eq]=1", &form.Error{Param: "created[eq]", Message: "Received unknown parameter: created[eq]"}},
		{"missing", "amount=1", &form.Error{Param: "mode", Message: "Missing required param: mode."}},
		{"missing when empty", "mode=", &form.Error{Param: "mode", Message: "Missing required param: mode."}},
		{"missing nested", "mode=payment&line_items[0][quantity]=1", &form.Error{
			Param: "line_items[0][price]", Message: "Missing required param: line_items[0][price].",
		}},
		{"missing in empty element", "mode=payment&line_items[0]=", &form.Error{
			Param: "line_items[0][price]", Message: "Missing required param: line_items[0][price].",
		}},
		{"first error in field order", "amount=x&limit=y", &form.Error{Param: "mode", Message: "Missing required param: mode."}},
		{"integer", "mode=payment&amount=abc", &form.Error{Param: "amount", Message: "Invalid integer: abc"}},
		{"integer pointer", "mode=payment&limit=1.5", &form.Error{Param: "limit", Message: "Invalid integer: 1.5"}},
		{"integer overflow", "mode=payment&amount=9223372036854775808", &form.Error{Param: "amount", Message: "Invalid integer: 9223372036854775808"}},
		{"integer hash", "mode=payment&amount[x]=1", &form.Error{Param: "amount", Message: "Invalid integer: {...}"}},
		{"nested integer", "mode=payment&line_items[0][price]=p&line_items[0][quantity]=x", &form.Error{
			Param: "line_items[0][quantity]", Message: "Invalid integer: x",
		}},
		{"range integer", "mode=payment&created[gte]=soon", &form.Error{Param: "created[gte]", Message: "Invalid integer: soon"}},
		{"range equal integer", "mode=payment&created=soon", &form.Error{Param: "created", Message: "Invalid integer: soon"}},
		{"range array", "mode=payment&created[]=1", &form.Error{Param: "created", Message: "Invalid hash"}},
		{"boolean", "mode=payment&capture=xyz", &form.Error{Param: "capture", Message: "Invalid boolean: xyz"}},
		{"boolean one", "mode=payment&allow_promotion_codes=1", &form.Error{Param: "allow_promotion_codes", Message: "Invalid boolean: 1"}},
		{"boolean array", "mode=payment&capture[]=true", &form.Error{Param: "capture", Message: "Invalid boolean: [...]"}},
		{"enum", "mode=donate", &form.Error{Param: "mode", Message: "Invalid mode: must be one of payment, setup, or subscription"}},
		{"enum of two", "mode=payment&ui_mode=popup", &form.Error{Param: "ui_mode", Message: "Invalid ui_mode: must be one of hosted or embedded"}},
		{"enum in array", "mode=payment&payment_method_types[]=card&payment_method_types[]=cash", &form.Error{
			Param: "payment_method_types[1]", Message: "Invalid payment_method_types[1]: must be one of card or link",
		}},
		{"string given hash", "mode[x]=payment", &form.Error{Param: "mode", Message: "Invalid string: {...}"}},
		{"string given array", "mode=payment&customer_email[]=a", &form.Error{Param: "customer_email", Message: "Invalid string: [...]"}},
		{"string too long", "mode=payment&customer_email=" + long, &form.Error{
			Param: "customer_email", Message: "Invalid string: aaaaaaaaaa...cccccccccc; must be at most 5000 characters",
		}},
		{"hash given string", "mode=payment&payment_intent_data=x", &form.Error{Param: "payment_intent_data", Message: "Invalid hash"}},
		{"hash given array", "mode=payment&payment_intent_data[]=x", &form.Error{Param: "payment_intent_data", Message: "Invalid hash"}},
		{"array element given string", "mode=payment&line_items[0]=x", &form.Error{Param: "line_items[0]", Message: "Invalid hash"}},
		{"array given string", "mode=payment&line_items=x", &form.Error{Param: "line_items", Message: "Invalid array"}},
		{"array given hash", "mode=payment&expand[a]=x", &form.Error{Param: "expand", Message: "Invalid array"}},
		{"array element given hash", "mode=payment&expand[0][a]=x", &form.Error{Param: "expand[0]", Message: "Invalid string: {...}"}},
		{"metadata given string", "mode=payment&metadata=x", &form.Error{Param: "metadata", Message: "Invalid hash"}},
		{"metadata value hash", "mode=payment&metadata[a][b]=x", &form.Error{
			Param: "metadata", Message: "Invalid val: {...} must be a string under 500 characters",
		}},
		{"metadata value too long", "mode=payment&metadata[a]=" + strings.Repeat("v", 501), &form.Error{
			Param: "metadata", Message: "Invalid val: vvvvvvvvvv...vvvvvvvvvv must be a string under 500 characters",
		}},
		{"metadata key too long", "mode=payment&payment_intent_data[metadata][" + strings.Repeat("k", 41) + "]=v", &form.Error{
			Param: "payment_intent_data[metadata]", Message: "Invalid key: kkkkkkkkkk...kkkkkkkkkk must be a string under 40 characters",
		}},
		{"metadata too many keys", "mode=payment" + metadataPairs(51), &form.Error{
			Param: "metadata", Message: "Metadata can have up to 50 keys, but you've set 51.",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(t, tt.raw)
			require.Equal(t, tt.want, err)
		})
	}
}

func TestDecodeMetadataLimits(t *testing.T) {
	_, err := decode(t, "mode=payment"+metadataPairs(50)+"&metadata["+strings.Repeat("k", 40)+"]="+strings.Repeat("v", 500))
	require.Error(t, err, "51 keys")

	p, err := decode(t, "mode=payment"+metadataPairs(49)+"&metadata["+strings.Repeat("k", 40)+"]="+strings.Repeat("v", 500))
	require.NoError(t, err)
	require.Len(t, p.Metadata, 50)
	require.Equal(t, strings.Repeat("v", 500), p.Metadata[strings.Repeat("k", 40)])
}

func metadataPairs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "&metadata[key_%d]=v", i)
	}
	return b.String()
}

func TestDecodeNamedTypes(t *testing.T) {
	type mode string
	type params struct {
		Mode     mode              `form:"mode" enum:"a|b"`
		Metadata map[string]string `form:"metadata"`
		Range    form.Range        `form:"range"`
	}
	v, err := form.Parse("mode=b&range=7")
	require.NoError(t, err)
	var p params
	require.NoError(t, form.Decode(v, &p))
	require.Equal(t, params{Mode: "b", Range: form.Range{Eq: ptr(int64(7))}}, p)
}

type tree struct {
	Name     string `form:"name" enum:"leaf"`
	Children []tree `form:"children"`
}

func TestDecodeRecursiveType(t *testing.T) {
	v, err := form.Parse("children[0][children][0][name]=leaf&children[1][name]=leaf")
	require.NoError(t, err)
	var got tree
	require.NoError(t, form.Decode(v, &got))
	require.Equal(t, tree{Children: []tree{{Children: []tree{{Name: "leaf"}}}, {Name: "leaf"}}}, got)

	v, err = form.Parse("children[0][name]=root")
	require.NoError(t, err)
	require.EqualError(t, form.Decode(v, &got), "Invalid children[0][name]: must be one of leaf")
}

func TestDecodeBadTarget(t *testing.T) {
	tests := []struct {
		name string
		dst  any
		want string
	}{
		{"nil", nil, "form: Decode needs a non-nil pointer to a struct, not <nil>"},
		{"not a pointer", sessionParams{}, "form: Decode needs a non-nil pointer to a struct, not form_test.sessionParams"},
		{"nil pointer", (*sessionParams)(nil), "form: Decode needs a non-nil pointer to a struct, not *form_test.sessionParams"},
		{"pointer to map", &map[string]string{}, "form: Decode needs a non-nil pointer to a struct, not *map[string]string"},
		{"unsupported type", &struct {
			N int `form:"n"`
		}{}, "form: struct { N int \"form:\\\"n\\\"\" }.N: unsupported type int"},
		{"unsupported nested type", &struct {
			Items []struct {
				F float64 `form:"f"`
			} `form:"items"`
		}{}, "unsupported type float64"},
		{"enum on integer", &struct {
			N int64 `form:"n" enum:"1|2"`
		}{}, "enum tag on a field that is not a string"},
		{"unknown option", &struct {
			S string `form:"s,omitempty"`
		}{}, "unknown form tag option omitempty"},
		{"duplicate name", &struct {
			A string `form:"s"`
			B string `form:"s"`
		}{}, "duplicate form name s"},
		{"empty name", &struct {
			S string `form:",required"`
		}{}, "empty form name"},
		{"unexported", &struct {
			s string `form:"s"`
		}{}, "unexported field has a form tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := form.Decode(form.Values{}, tt.dst)
			require.ErrorContains(t, err, tt.want)
			require.NotErrorAs(t, err, new(*form.Error))
		})
	}
}

func TestRangeContains(t *testing.T) {
	tests := []struct {
		name string
		r    *form.Range
		in   []int64
		out  []int64
	}{
		{"nil", nil, []int64{-1, 0, 1}, nil},
		{"empty", &form.Range{}, []int64{-1, 0, 1}, nil},
		{"equal", &form.Range{Eq: ptr(int64(5))}, []int64{5}, []int64{4, 6}},
		{"open", &form.Range{Gt: ptr(int64(1)), Lt: ptr(int64(4))}, []int64{2, 3}, []int64{1, 4}},
		{"closed", &form.Range{Gte: ptr(int64(1)), Lte: ptr(int64(4))}, []int64{1, 4}, []int64{0, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range tt.in {
				require.True(t, tt.r.Contains(n), n)
			}
			for _, n := range tt.out {
				require.False(t, tt.r.Contains(n), n)
			}
		})
	}
}

type pagination struct {
	Limit *int64 `form:"limit"`
	After string `form:"starting_after"`
}

// Untagged embedded structs share their parameters, as in encoding/json.
func TestDecodeEmbedded(t *testing.T) {
	var p struct {
		pagination
		Customer string `form:"customer"`
	}
	v, err := form.Parse("limit=5&starting_after=cus_1&customer=cus_2")
	require.NoError(t, err)
	require.NoError(t, form.Decode(v, &p))
	require.Equal(t, int64(5), *p.Limit)
	require.Equal(t, "cus_1", p.After)
	require.Equal(t, "cus_2", p.Customer)

	var dup struct {
		pagination
		Limit string `form:"limit"`
	}
	require.ErrorContains(t, form.Decode(v, &dup), "duplicate form name limit")
}
