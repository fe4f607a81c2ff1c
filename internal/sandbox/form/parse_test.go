package form_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sandbox/form"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want form.Values
	}{
		{"empty", "", form.Values{}},
		{"empty pairs", "&&a=1&", form.Values{"a": "1"}},
		{"no equals sign", "a", form.Values{"a": ""}},
		{"empty value", "a=", form.Values{"a": ""}},
		{"unescaping", "q=a+b%26c%3D", form.Values{"q": "a b&c="}},
		{"escaped brackets", "a%5Bb%5D=1", form.Values{"a": map[string]any{"b": "1"}}},
		{"hash", "metadata[order]=42&metadata[note]=hi", form.Values{
			"metadata": map[string]any{"order": "42", "note": "hi"},
		}},
		{"array of hashes", "line_items[0][price]=price_1&line_items[0][quantity]=1&line_items[1][price]=price_2", form.Values{
			"line_items": []any{
				map[string]any{"price": "price_1", "quantity": "1"},
				map[string]any{"price": "price_2"},
			},
		}},
		{"appended array", "expand[]=payment_intent&expand[]=customer", form.Values{
			"expand": []any{"payment_intent", "customer"},
		}},
		{"indexes out of order", "types[1]=b&types[2]=c&types[0]=a", form.Values{
			"types": []any{"a", "b", "c"},
		}},
		{"append after index", "types[0]=a&types[]=b", form.Values{"types": []any{"a", "b"}}},
		{"range", "created[gte]=1700000000&created[lt]=1800000000", form.Values{
			"created": map[string]any{"gte": "1700000000", "lt": "1800000000"},
		}},
		{"deep nesting", "payment_intent_data[metadata][ref]=x", form.Values{
			"payment_intent_data": map[string]any{"metadata": map[string]any{"ref": "x"}},
		}},
		{"leading zero is a hash key", "metadata[007]=bond", form.Values{
			"metadata": map[string]any{"007": "bond"},
		}},
		{"ten levels", "a[b][c][d][e][f][g][h][i][j][k]=1", form.Values{
			"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": map[string]any{"e": map[string]any{
				"f": map[string]any{"g": map[string]any{"h": map[string]any{"i": map[string]any{"j": map[string]any{"k": "1"}}}}},
			}}}}},
		}},
		{"highest index", "a[0]=x", form.Values{"a": []any{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := form.Parse(tt.raw)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want *form.Error
	}{
		{"unclosed bracket", "a[b=1", &form.Error{Param: "a[b", Message: `Invalid parameter name "a[b": unbalanced brackets`}},
		{"stray close", "a]=1", &form.Error{Param: "a]", Message: `Invalid parameter name "a]": unbalanced brackets`}},
		{"double close", "a[b]]=1", &form.Error{Param: "a[b]]", Message: `Invalid parameter name "a[b]]": unbalanced brackets`}},
		{"nested open", "a[b[c]]=1", &form.Error{Param: "a[b[c]]", Message: `Invalid parameter name "a[b[c]]": unbalanced brackets`}},
		{"text after bracket", "a[b]c=1", &form.Error{Param: "a[b]c", Message: `Invalid parameter name "a[b]c": text after ]`}},
		{"empty key", "=1", &form.Error{Message: `Invalid parameter name "": empty name`}},
		{"empty name", "[a]=1", &form.Error{Param: "[a]", Message: `Invalid parameter name "[a]": empty name`}},
		{"append not last", "a[][b]=1", &form.Error{Param: "a[][b]", Message: `Invalid parameter name "a[][b]": [] may only come last`}},
		{"too deep", "a[1][2][3][4][5][6][7][8][9][10][11]=1", &form.Error{
			Param:   "a[1][2][3][4][5][6][7][8][9][10][11]",
			Message: `Invalid parameter name "a[1][2][3][4][5][6][7][8][9][10][11]": nested more than 10 levels`,
		}},
		{"index too large", "a[10001]=1", &form.Error{Param: "a[10001]", Message: `Invalid parameter name "a[10001]": array index above 10000`}},
		{"index overflows int", "a[99999999999999999999999]=1", &form.Error{
			Param:   "a[99999999999999999999999]",
			Message: `Invalid parameter name "a[99999999999999999999999]": array index above 10000`,
		}},
		{"string then hash", "a=1&a[b]=2", &form.Error{Param: "a", Message: "Conflicting parameters: a is given as both a string and a hash"}},
		{"hash then string", "a[b]=2&a=1", &form.Error{Param: "a", Message: "Conflicting parameters: a is given as both a hash and a string"}},
		{"array then string", "a[]=1&a=2", &form.Error{Param: "a", Message: "Conflicting parameters: a is given as both an array and a string"}},
		{"array then hash", "a[0]=1&a[b]=2", &form.Error{Param: "a", Message: "Conflicting parameters: a is given as both an array and a hash"}},
		{"hash then array", "a[b][c]=1&a[b][]=2", &form.Error{Param: "a[b]", Message: "Conflicting parameters: a[b] is given as both a hash and an array"}},
		{"nested string then array", "a[0]=1&a[0][0]=2", &form.Error{Param: "a[0]", Message: "Conflicting parameters: a[0] is given as both a string and an array"}},
		{"duplicate", "a[b]=1&a[b]=2", &form.Error{Param: "a[b]", Message: "Duplicate parameter: a[b]"}},
		{"duplicate by append", "a[1]=x&a[]=y&a[2]=z", &form.Error{Param: "a[2]", Message: "Duplicate parameter: a[2]"}},
		{"gap at start", "a[1]=x", &form.Error{Param: "a", Message: "Invalid array: a has no index 0"}},
		{"gap in middle", "line_items[0][price]=p&line_items[2][price]=q", &form.Error{
			Param: "line_items", Message: "Invalid array: line_items has no index 1",
		}},
		{"nested gap", "a[0][1]=x", &form.Error{Param: "a[0]", Message: "Invalid array: a[0] has no index 0"}},
		{"last index only", "a[10000]=x", &form.Error{Param: "a", Message: "Invalid array: a has no index 0"}},
		{"bad escape in name", "a%zz=1", &form.Error{Message: `Invalid percent-encoding in parameter name "a%zz"`}},
		{"bad escape in value", "a=%4", &form.Error{Param: "a", Message: "Invalid percent-encoding in the value of a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := form.Parse(tt.raw)
			require.Nil(t, v)
			require.Equal(t, tt.want, err)
		})
	}
}

func TestParseLimits(t *testing.T) {
	params := func(n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = fmt.Sprintf("p%d=x", i)
		}
		return strings.Join(ps, "&")
	}
	v, err := form.Parse(params(5000))
	require.NoError(t, err)
	require.Len(t, v, 5000)

	_, err = form.Parse(params(5001))
	require.Equal(t, &form.Error{Message: "Too many parameters: at most 5000 are allowed"}, err)
}

func TestHas(t *testing.T) {
	v, err := form.Parse("amount=&line_items[0][price]=p&metadata[a]=1")
	require.NoError(t, err)
	tests := []struct {
		path []string
		want bool
	}{
		{[]string{"amount"}, true},
		{[]string{"line_items", "0", "price"}, true},
		{[]string{"line_items", "0"}, true},
		{[]string{"metadata", "a"}, true},
		{nil, false},
		{[]string{"currency"}, false},
		{[]string{"line_items", "1", "price"}, false},
		{[]string{"line_items", "x"}, false},
		{[]string{"line_items", "-1"}, false},
		{[]string{"amount", "x"}, false},
		{[]string{"metadata", "b"}, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, v.Has(tt.path...), "%q", tt.path)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"a=1&b=2",
		"metadata[order]=42&metadata[note]=a+b%20c",
		"line_items[0][price]=price_1&line_items[0][quantity]=1&line_items[1][price]=price_2",
		"expand[]=payment_intent&expand[]=customer",
		"created[gte]=1700000000&created[lte]=1800000000",
		"types[1]=b&types[0]=a",
		"payment_intent_data[metadata][ref]=x",
		"a[b]c=1&a[0]=1&a[b]=2&a]=1",
		"a[][b]=1&a[10001]=2&%zz=1",
		"mode=payment&line_items[0][price]=p&created=123&capture=true",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := form.Parse(raw)
		if err != nil {
			require.IsType(t, &form.Error{}, err)
			require.Nil(t, v)
			return
		}
		require.NotNil(t, v)
		checkTree(t, map[string]any(v), 0)

		// Decoding any parsed tree must not panic either.
		if err := form.Decode(v, &sessionParams{}); err != nil {
			require.IsType(t, &form.Error{}, err)
		}
	})
}

// checkTree asserts that every node under v is a string, a hash or an
// array, no deeper than Parse allows.
func checkTree(t *testing.T, v any, depth int) {
	t.Helper()
	require.LessOrEqual(t, depth, 11)
	switch v := v.(type) {
	case string:
	case map[string]any:
		for k, x := range v {
			require.NotEmpty(t, k)
			checkTree(t, x, depth+1)
		}
	case []any:
		require.LessOrEqual(t, len(v), 10001)
		for _, x := range v {
			checkTree(t, x, depth+1)
		}
	default:
		t.Fatalf("unexpected node %T", v)
	}
}
