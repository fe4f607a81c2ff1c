// Package stripespec keeps paidup's Stripe sandbox faithful to Stripe.
//
// It validates JSON produced by the sandbox against Stripe's own OpenAPI
// specification, the spec3.json that ships inside the stripe-mock module
// pinned in go.mod. Tests wrap the sandbox's HTTP handler and pass every
// response to [Validator.Response], or check individual objects with
// [Validator.Object] and error bodies with [Validator.Error]:
//
//	v := stripespec.Must(t)
//	rec := httptest.NewRecorder()
//	sandbox.ServeHTTP(rec, req)
//	if err := v.Response(req.Method, req.URL.Path, rec.Code, rec.Body.Bytes()); err != nil {
//		t.Error(err)
//	}
//
// The package is meant for tests only; the spec is loaded once per process.
package stripespec

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Validator checks JSON against Stripe's OpenAPI spec. It is safe for
// concurrent use.
type Validator struct {
	doc    *openapi3.T
	routes []route
}

var (
	loadOnce  sync.Once
	loaded    *Validator
	errLoaded error
)

// Load returns the process-wide Validator, loading spec3.json from the
// stripe-mock module pinned in go.mod on first use.
func Load() (*Validator, error) {
	loadOnce.Do(func() { loaded, errLoaded = load() })
	return loaded, errLoaded
}

// Must is Load for tests: it fails t if the spec cannot be loaded.
func Must(t testing.TB) *Validator {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatalf("stripespec: cannot load Stripe's OpenAPI spec: %v\n"+
			"(try `go mod download %s` in the module root)", err, stripeMock)
	}
	return v
}

func load() (*Validator, error) {
	path, err := specPath()
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	if doc.Components == nil || len(doc.Components.Schemas) == 0 || doc.Paths == nil {
		return nil, fmt.Errorf("%s: no schemas or paths", path)
	}
	return &Validator{doc: doc, routes: newRoutes(doc.Paths)}, nil
}

// Object validates a Stripe object against the schema named by its "object"
// field (deleted_<name> when "deleted" is true). Lists and search results
// have their envelope checked and each element validated by its own type;
// an event's data.object, which the spec leaves untyped, is validated by its
// own type as well.
func (v *Validator) Object(data []byte) error {
	val, err := decode(data)
	if err != nil {
		return err
	}
	if probs := v.object(val, ""); len(probs) > 0 {
		what := "JSON value"
		if name, ok := objectName(val); ok {
			what = fmt.Sprintf("%q object", name)
		}
		return mismatch(what, probs)
	}
	return nil
}

// Error validates a Stripe error body ({"error": {...}}) against the spec's
// "error" schema.
func (v *Validator) Error(data []byte) error {
	val, err := decode(data)
	if err != nil {
		return err
	}
	if probs := v.visit(v.schema("error"), val, ""); len(probs) > 0 {
		return mismatch("error body", probs)
	}
	return nil
}

// Response validates the body of a response to method and path (a request
// path such as /v1/checkout/sessions/cs_123; any query is ignored) against
// the schema the spec declares for status, or its default response for
// statuses of 400 and above. Successful bodies also get the checks of
// [Validator.Object] that the operation's schema cannot express. Responses
// that the spec declares as non-JSON (such as quote PDFs) are not checked.
func (v *Validator) Response(method, path string, status int, body []byte) error {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	method = strings.ToUpper(method)
	rt, op := v.operation(method, path)
	if op == nil {
		return fmt.Errorf("stripespec: Stripe has no operation %s %s", method, path)
	}
	what := fmt.Sprintf("%s %s", method, path)
	if rt != path {
		what += " [" + rt + "]"
	}
	what += fmt.Sprintf(" status %d", status)
	resp := op.Responses.Status(status)
	if resp == nil && status >= 400 {
		resp = op.Responses.Default()
	}
	if resp == nil || resp.Value == nil {
		return fmt.Errorf("stripespec: %s: Stripe declares no such response", what)
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	val, err := decode(body)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, what)
	}
	probs := v.visit(mt.Schema.Value, val, "")
	if status < 300 {
		probs = append(probs, v.loose(val, "")...)
	}
	if len(probs) > 0 {
		return mismatch(what, probs)
	}
	return nil
}

// object validates val by its own "object" type, then its loosely typed parts.
func (v *Validator) object(val any, at string) []string {
	name, ok := objectName(val)
	if !ok {
		return []string{problem(at, `not a Stripe object (no string "object" field)`)}
	}
	if name == "list" || name == "search_result" {
		probs := v.visit(envelope(name), val, at)
		items, _ := val.(map[string]any)["data"].([]any)
		for i, it := range items {
			probs = append(probs, v.object(it, fmt.Sprintf("%s/data/%d", at, i))...)
		}
		return probs
	}
	s := v.schema(name)
	if val.(map[string]any)["deleted"] == true && v.schema("deleted_"+name) != nil {
		s = v.schema("deleted_" + name)
	}
	if s == nil {
		return []string{problem(at, fmt.Sprintf("Stripe has no object type %q", name))}
	}
	return append(v.visit(s, val, at), v.loose(val, at)...)
}

// loose validates what Stripe's schemas leave untyped: the data.object of
// events, including events inside lists.
func (v *Validator) loose(val any, at string) []string {
	m, _ := val.(map[string]any)
	switch name, _ := objectName(val); name {
	case "list", "search_result":
		items, _ := m["data"].([]any)
		var probs []string
		for i, it := range items {
			probs = append(probs, v.loose(it, fmt.Sprintf("%s/data/%d", at, i))...)
		}
		return probs
	case "event":
		if data, ok := m["data"].(map[string]any); ok && data["object"] != nil {
			return v.object(data["object"], at+"/data/object")
		}
	}
	return nil
}

func (v *Validator) schema(name string) *openapi3.Schema {
	if ref := v.doc.Components.Schemas[name]; ref != nil {
		return ref.Value
	}
	return nil
}

// envelope is the schema common to all lists ("list") and search results.
func envelope(name string) *openapi3.Schema {
	return openapi3.NewObjectSchema().
		WithProperty("object", openapi3.NewStringSchema().WithEnum(name)).
		WithProperty("data", openapi3.NewArraySchema().WithItems(openapi3.NewObjectSchema())).
		WithProperty("has_more", openapi3.NewBoolSchema()).
		WithProperty("url", openapi3.NewStringSchema()).
		WithRequired([]string{"object", "data", "has_more", "url"})
}

func objectName(val any) (string, bool) {
	m, ok := val.(map[string]any)
	if !ok {
		return "", false
	}
	name, ok := m["object"].(string)
	return name, ok
}

func decode(data []byte) (any, error) {
	var val any
	if err := json.Unmarshal(data, &val); err != nil {
		return nil, fmt.Errorf("stripespec: invalid JSON: %w", err)
	}
	return val, nil
}

// Stripe's custom formats. kin-openapi ignores formats it does not know, so
// these only add checks; "unix-time" (integer) needs none.
var formats = map[string]openapi3.StringFormatValidator{
	"currency": matching(`^[a-z]{3}$`, `a lowercase three-letter ISO code such as "usd"`),
	"decimal":  matching(`^-?[0-9]+(\.[0-9]+)?$`, `a decimal number such as "12.5"`),
}

func matching(pattern, want string) openapi3.StringFormatValidator {
	re := regexp.MustCompile(pattern)
	return openapi3.NewCallbackValidator(func(s string) error {
		if !re.MatchString(s) {
			return errors.New("want " + want)
		}
		return nil
	})
}

// visit validates val against s and returns one "path: reason" line per
// problem, with paths as JSON pointers prefixed by at.
func (v *Validator) visit(s *openapi3.Schema, val any, at string) []string {
	err := s.VisitJSON(val,
		openapi3.MultiErrors(),
		openapi3.DisableSchemaErrorDetails(),
		openapi3.WithStringFormatValidators(formats))
	return v.problems(err, at)
}

func (v *Validator) problems(err error, at string) []string {
	var se *openapi3.SchemaError
	switch e := err.(type) {
	case nil:
		return nil
	case openapi3.MultiError:
		var probs []string
		for _, e := range e {
			probs = append(probs, v.problems(e, at)...)
		}
		return probs
	case *openapi3.SchemaError:
		se = e
	default:
		return []string{problem(at, err.Error())}
	}
	path := at
	for _, p := range se.JSONPointer() {
		path += "/" + p
	}
	if se.SchemaField == "anyOf" {
		return v.anyOf(se, path)
	}
	reason := se.Reason
	if reason == "" && se.Origin != nil {
		reason = se.Origin.Error()
	}
	if reason == "" {
		reason = fmt.Sprintf("doesn't match schema %q", se.SchemaField)
	}
	switch se.Value.(type) {
	case string, float64, bool:
		if got, _ := json.Marshal(se.Value); len(got) <= 80 {
			reason += fmt.Sprintf(" (got %s)", got)
		}
	}
	return []string{problem(path, reason)}
}

// anyOf explains an anyOf failure. kin-openapi reports only that no branch
// matched; for Stripe's expandable fields (an ID or one of several objects)
// the branch the value was meant for is usually clear, so report its errors.
func (v *Validator) anyOf(se *openapi3.SchemaError, path string) []string {
	typ := jsonType(se.Value)
	var names []string
	var fits []*openapi3.Schema
	for _, b := range se.Schema.AnyOf {
		names = append(names, branchName(b))
		if b.Value != nil && b.Value.Type.Permits(typ) {
			fits = append(fits, b.Value)
		}
	}
	if name, ok := objectName(se.Value); ok {
		deleted := se.Value.(map[string]any)["deleted"] == true
		fits = slices.DeleteFunc(fits, func(s *openapi3.Schema) bool {
			p := s.Properties["object"]
			if p == nil || p.Value == nil || len(p.Value.Enum) == 0 {
				return false
			}
			return !slices.Contains(p.Value.Enum, any(name)) || (s.Properties["deleted"] != nil) != deleted
		})
	}
	if len(fits) == 1 {
		if probs := v.visit(fits[0], se.Value, path); len(probs) > 0 {
			return probs
		}
	}
	what := typ
	if name, ok := objectName(se.Value); ok {
		what = fmt.Sprintf("%q object", name)
	}
	return []string{problem(path, fmt.Sprintf("%s matches none of %s", what, strings.Join(names, ", ")))}
}

func branchName(b *openapi3.SchemaRef) string {
	if b.Ref != "" {
		return b.Ref[strings.LastIndex(b.Ref, "/")+1:]
	}
	if b.Value != nil && b.Value.Type != nil {
		return strings.Join(b.Value.Type.Slice(), "|")
	}
	return "schema"
}

func jsonType(val any) string {
	switch val := val.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if val == float64(int64(val)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// problem formats one validation problem at a JSON pointer.
func problem(path, reason string) string {
	if path == "" {
		path = "(root)"
	}
	return path + ": " + reason
}

func mismatch(what string, probs []string) error {
	return fmt.Errorf("stripespec: %s does not match Stripe's OpenAPI spec:\n\t%s",
		what, strings.Join(probs, "\n\t"))
}

// A route is one path template of the spec, split into segments.
type route struct {
	template string
	segs     []string // "" stands for a {parameter}
	item     *openapi3.PathItem
}

func newRoutes(paths *openapi3.Paths) []route {
	var rs []route
	for tmpl, item := range paths.Map() {
		segs := strings.Split(strings.Trim(tmpl, "/"), "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				segs[i] = ""
			}
		}
		rs = append(rs, route{tmpl, segs, item})
	}
	return rs
}

// operation finds the operation for method and path. Where several
// templates match, the one with a literal segment at the first point where
// they differ wins (/v1/customers/search over /v1/customers/{customer}).
func (v *Validator) operation(method, path string) (string, *openapi3.Operation) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var best *route
	for i := range v.routes {
		r := &v.routes[i]
		if r.item.GetOperation(method) == nil || !r.matches(segs) {
			continue
		}
		if best == nil || r.moreLiteral(best) {
			best = r
		}
	}
	if best == nil {
		return "", nil
	}
	return best.template, best.item.GetOperation(method)
}

func (r *route) matches(segs []string) bool {
	if len(segs) != len(r.segs) {
		return false
	}
	for i, s := range r.segs {
		if s == "" && segs[i] == "" || s != "" && s != segs[i] {
			return false
		}
	}
	return true
}

func (r *route) moreLiteral(o *route) bool {
	for i := range r.segs {
		if (r.segs[i] == "") != (o.segs[i] == "") {
			return r.segs[i] != ""
		}
	}
	return false
}
