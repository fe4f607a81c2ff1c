// Package form decodes request parameters in Stripe's bracketed form encoding
// (metadata[order]=42, line_items[0][price]=price_1, expand[]=customer) for
// the sandbox, so that the official stripe-go SDK can talk to it unchanged.
//
// Parse turns a form body or query string into a tree of Values; Decode binds
// that tree to a params struct and reports problems as *Error, worded like the
// invalid_request_error messages Stripe returns.
package form

import (
	"fmt"
	"strings"
)

// Values is a parsed parameter tree. Each value is a string, a
// map[string]any (a hash) or a []any (an array), and so on recursively.
type Values map[string]any

// Has reports whether a parameter exists at path, given as its key parts:
// v.Has("line_items", "0", "price") for line_items[0][price]. It is how a
// handler tells a parameter sent empty (Stripe's "unset") from one not sent.
func (v Values) Has(path ...string) bool {
	var cur any = map[string]any(v)
	for _, p := range path {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[p]
			if !ok {
				return false
			}
			cur = next
		case []any:
			i, ok := index(p)
			if !ok || i >= len(c) {
				return false
			}
			cur = c[i]
		default:
			return false
		}
	}
	return len(path) > 0
}

// Error is a parameter error worded like Stripe's, for the message and param
// of an invalid_request_error.
type Error struct {
	// Param is the offending parameter in bracket notation, such as
	// line_items[0][price]; it is empty when no single parameter is at fault.
	Param   string
	Message string
}

func (e *Error) Error() string { return e.Message }

// join appends key to a bracketed parameter path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "[" + key + "]"
}

// describe renders a parameter value for an error message, eliding hashes and
// arrays.
func describe(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "{...}"
	case []any:
		return "[...]"
	default:
		return abbrev(fmt.Sprint(v))
	}
}

// abbrev shortens long strings the way Stripe does in its messages: the first
// and last ten characters around an ellipsis.
func abbrev(s string) string {
	r := []rune(s)
	if len(r) <= 20 {
		return s
	}
	return string(r[:10]) + "..." + string(r[len(r)-10:])
}

// oneOf lists allowed values in Stripe's style: "a, b, or c".
func oneOf(vals []string) string {
	switch len(vals) {
	case 1:
		return vals[0]
	case 2:
		return vals[0] + " or " + vals[1]
	}
	return strings.Join(vals[:len(vals)-1], ", ") + ", or " + vals[len(vals)-1]
}
