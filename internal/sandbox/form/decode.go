package form

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Stripe's published limits on parameter values.
const (
	maxString        = 5000 // characters in most string parameters
	maxMetadataKeys  = 50
	maxMetadataKey   = 40  // characters in a metadata key
	maxMetadataValue = 500 // characters in a metadata value
)

// Range is a Stripe list filter on an integer such as a timestamp. It binds
// both created=123, which sets Eq, and created[gte]=100&created[lt]=200.
type Range struct {
	Eq  *int64
	Gt  *int64 `form:"gt"`
	Gte *int64 `form:"gte"`
	Lt  *int64 `form:"lt"`
	Lte *int64 `form:"lte"`
}

// Contains reports whether n passes every bound that is set. A nil Range
// contains every number.
func (r *Range) Contains(n int64) bool {
	if r == nil {
		return true
	}
	return (r.Eq == nil || n == *r.Eq) &&
		(r.Gt == nil || n > *r.Gt) &&
		(r.Gte == nil || n >= *r.Gte) &&
		(r.Lt == nil || n < *r.Lt) &&
		(r.Lte == nil || n <= *r.Lte)
}

var rangeType = reflect.TypeFor[Range]()

// Decode binds v to the struct dst points to. A field is bound to the
// parameter its tag names, and fields without a form tag are ignored:
//
//	Mode     string            `form:"mode,required" enum:"payment|setup|subscription"`
//	Metadata map[string]string `form:"metadata"`
//
// Field types may be string, int64 and bool, pointers to them, *Range or
// Range, map[string]string (metadata), []string, and structs, pointers to
// structs and slices of structs for hashes and arrays of hashes. The enum tag
// lists the values a string, *string or []string field allows.
//
// As in Stripe, an empty string means "unset". It binds a map or slice as
// empty but not nil, a string or *string as "", and a struct as an empty
// hash; it leaves other fields, such as *int64, *Range or a pointer to a
// struct, as they are. A required parameter sent empty counts as missing.
// Strings are limited to 5000 characters, and metadata to 50 keys of up to
// 40 characters with values of up to 500, as Stripe publishes.
//
// A parameter error is an *Error in Stripe's wording. Unknown parameters are
// reported before anything else, the first in sorted order; otherwise the
// first error in field order is reported. Any other error means dst is not a
// pointer to a struct of supported fields. After an error, dst may be
// partly filled.
func Decode(v Values, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("form: Decode needs a non-nil pointer to a struct, not %T", dst)
	}
	if err := checkStruct(rv.Elem().Type(), map[reflect.Type]bool{}); err != nil {
		return fmt.Errorf("form: %w", err)
	}
	var d decoder
	d.hash("", v, rv.Elem())
	if len(d.unknown) > 0 {
		p := slices.Min(d.unknown)
		return &Error{Param: p, Message: "Received unknown parameter: " + p}
	}
	if d.err != nil {
		return d.err
	}
	return nil
}

// field is a struct field bound to a parameter.
type field struct {
	name     string
	index    []int // as for reflect's FieldByIndex
	required bool
	enum     []string
}

// fields lists the tagged fields of struct type t. The tagged fields of an
// untagged embedded struct count as t's own, as encoding/json treats them,
// so that parameter sets can be shared (pagination, say).
func fields(t reflect.Type) ([]field, error) {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("form")
		if !ok {
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
				inner, err := fields(sf.Type)
				if err != nil {
					return nil, err
				}
				for _, f := range inner {
					if slices.ContainsFunc(fs, func(g field) bool { return g.name == f.name }) {
						return nil, fmt.Errorf("%s.%s: duplicate form name %s", t, sf.Name, f.name)
					}
					f.index = append([]int{i}, f.index...)
					fs = append(fs, f)
				}
			}
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s.%s: %s", t, sf.Name, why) }
		name, opt, _ := strings.Cut(tag, ",")
		f := field{name: name, index: []int{i}, required: opt == "required"}
		switch {
		case !sf.IsExported():
			return nil, bad("unexported field has a form tag")
		case name == "":
			return nil, bad("empty form name")
		case opt != "" && !f.required:
			return nil, bad("unknown form tag option " + opt)
		case slices.ContainsFunc(fs, func(g field) bool { return g.name == name }):
			return nil, bad("duplicate form name " + name)
		}
		if e, ok := sf.Tag.Lookup("enum"); ok {
			et := sf.Type
			if k := et.Kind(); k == reflect.Pointer || k == reflect.Slice {
				et = et.Elem()
			}
			if et.Kind() != reflect.String {
				return nil, bad("enum tag on a field that is not a string")
			}
			f.enum = strings.Split(e, "|")
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// checkStruct reports tagged fields of t, or of the structs it contains, that
// Decode cannot bind. seen guards against recursive types.
func checkStruct(t reflect.Type, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	fs, err := fields(t)
	if err != nil {
		return err
	}
	for _, f := range fs {
		sf := t.FieldByIndex(f.index)
		if err := checkType(sf.Type, seen); err != nil {
			return fmt.Errorf("%s.%s: %w", t, sf.Name, err)
		}
	}
	return nil
}

func checkType(t reflect.Type, seen map[reflect.Type]bool) error {
	switch t.Kind() {
	case reflect.String, reflect.Int64, reflect.Bool:
		return nil
	case reflect.Struct:
		return checkStruct(t, seen)
	case reflect.Pointer:
		switch t.Elem().Kind() {
		case reflect.String, reflect.Int64, reflect.Bool, reflect.Struct:
			return checkType(t.Elem(), seen)
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String {
			return nil
		}
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String, reflect.Struct:
			return checkType(t.Elem(), seen)
		}
	}
	return fmt.Errorf("unsupported type %s", t)
}

// decoder walks the whole tree, so that every unknown parameter is seen, and
// keeps the first other error.
type decoder struct {
	unknown []string
	err     *Error
}

func (d *decoder) fail(param, format string, args ...any) {
	if d.err == nil {
		d.err = &Error{Param: param, Message: fmt.Sprintf(format, args...)}
	}
}

// hash binds the hash m at path to the struct v.
func (d *decoder) hash(path string, m map[string]any, v reflect.Value) {
	fs, _ := fields(v.Type()) // checked by checkStruct
	for k := range m {
		if !slices.ContainsFunc(fs, func(f field) bool { return f.name == k }) {
			d.unknown = append(d.unknown, join(path, k))
		}
	}
	for _, f := range fs {
		p := join(path, f.name)
		node, ok := m[f.name]
		switch {
		case f.required && (!ok || node == ""):
			d.fail(p, "Missing required param: %s.", p)
		case ok:
			d.value(p, node, v.FieldByIndex(f.index), f.enum)
		}
	}
}

// value binds node, the parameter at path, to v.
func (d *decoder) value(path string, node any, v reflect.Value, enum []string) {
	s, isString := node.(string)
	if v.Type() == rangeType && isString {
		// A plain integer filters for equality: created=123.
		d.value(path, s, v.FieldByName("Eq"), nil)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if node == "" && v.Type().Elem().Kind() != reflect.String {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.value(path, node, p.Elem(), enum)
		v.Set(p)
	case reflect.String:
		switch {
		case !isString:
			d.fail(path, "Invalid string: %s", describe(node))
		case utf8.RuneCountInString(s) > maxString:
			d.fail(path, "Invalid string: %s; must be at most %d characters", abbrev(s), maxString)
		case s != "" && enum != nil && !slices.Contains(enum, s):
			d.fail(path, "Invalid %s: must be one of %s", path, oneOf(enum))
		default:
			v.SetString(s)
		}
	case reflect.Int64:
		if s == "" && isString {
			return
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || !isString {
			d.fail(path, "Invalid integer: %s", describe(node))
			return
		}
		v.SetInt(n)
	case reflect.Bool:
		switch node {
		case "true", "false":
			v.SetBool(node == "true")
		case "":
		default:
			d.fail(path, "Invalid boolean: %s", describe(node))
		}
	case reflect.Map:
		d.metadata(path, node, v)
	case reflect.Slice:
		d.list(path, node, v, enum)
	case reflect.Struct:
		m, ok := node.(map[string]any)
		if !ok && node != "" {
			d.fail(path, "Invalid hash")
			return
		}
		d.hash(path, m, v)
	}
}

// metadata binds a hash of strings to the map v, within Stripe's limits.
func (d *decoder) metadata(path string, node any, v reflect.Value) {
	var m map[string]any
	switch n := node.(type) {
	case map[string]any:
		m = n
	case []any:
		// Parse reads numeric keys, as in metadata[0]=a, as an array.
		m = make(map[string]any, len(n))
		for i, x := range n {
			m[strconv.Itoa(i)] = x
		}
	default:
		if node != "" {
			d.fail(path, "Invalid hash")
			return
		}
	}
	if len(m) > maxMetadataKeys {
		d.fail(path, "Metadata can have up to %d keys, but you've set %d.", maxMetadataKeys, len(m))
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s, ok := m[k].(string)
		switch {
		case utf8.RuneCountInString(k) > maxMetadataKey:
			d.fail(path, "Invalid key: %s must be a string under %d characters", abbrev(k), maxMetadataKey)
		case !ok || utf8.RuneCountInString(s) > maxMetadataValue:
			d.fail(path, "Invalid val: %s must be a string under %d characters", describe(m[k]), maxMetadataValue)
		default:
			out.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), reflect.ValueOf(s).Convert(v.Type().Elem()))
		}
	}
	v.Set(out)
}

// list binds an array to the slice v.
func (d *decoder) list(path string, node any, v reflect.Value, enum []string) {
	n, ok := node.([]any)
	if !ok && node != "" {
		d.fail(path, "Invalid array")
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n), len(n))
	for i, x := range n {
		d.value(path+"["+strconv.Itoa(i)+"]", x, out.Index(i), enum)
	}
	v.Set(out)
}
