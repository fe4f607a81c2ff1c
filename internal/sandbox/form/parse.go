package form

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Limits on what Parse accepts, so that a request cannot make it build an
// unbounded tree.
const (
	maxParams = 5000  // key=value pairs in one request
	maxDepth  = 10    // bracketed parts after the name, as in a[1]...[10]
	maxIndex  = 10000 // highest array index
)

// Parse decodes an application/x-www-form-urlencoded body or URL query string
// in Stripe's bracket encoding into a tree:
//
//	metadata[order]=42          {"metadata": {"order": "42"}}
//	items[0][price]=p&items[1][price]=q
//	                            {"items": [{"price": "p"}, {"price": "q"}]}
//	expand[]=a&expand[]=b       {"expand": ["a", "b"]}
//
// A bracketed part that is a decimal number without leading zeros is an array
// index; [] appends. An array's indexes must come to exactly 0..n-1, in any
// order of appearance. Keys and values are unescaped with net/url, so "+" is
// a space. Parse rejects malformed keys, a parameter given twice or as both a
// string and a hash or array, more than 5000 parameters, nesting deeper than
// 10 brackets and indexes above 10000; its errors are *Error.
func Parse(raw string) (Values, error) {
	root := map[string]any{}
	n := 0
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if n++; n > maxParams {
			return nil, &Error{Message: fmt.Sprintf("Too many parameters: at most %d are allowed", maxParams)}
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, &Error{Message: fmt.Sprintf("Invalid percent-encoding in parameter name %q", k)}
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, &Error{Param: key, Message: "Invalid percent-encoding in the value of " + key}
		}
		parts, err := splitKey(key)
		if err != nil {
			return nil, err
		}
		if err := insert(root, parts, val); err != nil {
			return nil, err
		}
	}
	tree, err := finish("", root)
	if err != nil {
		return nil, err
	}
	return Values(tree.(map[string]any)), nil
}

// splitKey splits "a[b][0][]" into its name and bracketed parts:
// "a", "b", "0", "".
func splitKey(key string) ([]string, error) {
	bad := func(why string) error {
		return &Error{Param: key, Message: fmt.Sprintf("Invalid parameter name %q: %s", key, why)}
	}
	i := strings.IndexByte(key, '[')
	if i < 0 {
		i = len(key)
	}
	parts := []string{key[:i]}
	switch {
	case parts[0] == "":
		return nil, bad("empty name")
	case strings.ContainsRune(parts[0], ']'):
		return nil, bad("unbalanced brackets")
	}
	for rest := key[i:]; rest != ""; {
		if rest[0] != '[' {
			if rest[0] == ']' {
				return nil, bad("unbalanced brackets")
			}
			return nil, bad("text after ]")
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 || strings.ContainsRune(rest[1:j], '[') {
			return nil, bad("unbalanced brackets")
		}
		seg := rest[1:j]
		switch n, ok := index(seg); {
		case len(parts) > maxDepth:
			return nil, bad(fmt.Sprintf("nested more than %d levels", maxDepth))
		case parts[len(parts)-1] == "" && len(parts) > 1:
			return nil, bad("[] may only come last")
		case ok && n > maxIndex:
			return nil, bad(fmt.Sprintf("array index above %d", maxIndex))
		}
		parts = append(parts, seg)
		rest = rest[j+1:]
	}
	return parts, nil
}

// index reports whether a bracketed part is an array index, a decimal number
// without leading zeros, and its value; one too large for an int is reported
// as maxIndex+1.
func index(seg string) (int, bool) {
	if seg == "" || len(seg) > 1 && seg[0] == '0' || strings.Trim(seg, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(seg)
	if err != nil {
		return maxIndex + 1, true
	}
	return n, true
}

// list is an array under construction: indexes may arrive in any order.
type list struct {
	items map[int]any
	n     int // one past the highest index seen
}

// slot is a place in the tree under construction: a key of a hash or an
// index of a list.
type slot struct {
	m   map[string]any
	key string
	l   *list
	i   int
}

func (s slot) get() any {
	if s.l != nil {
		return s.l.items[s.i]
	}
	return s.m[s.key]
}

func (s slot) set(v any) {
	if s.l != nil {
		s.l.items[s.i] = v
		s.l.n = max(s.l.n, s.i+1)
		return
	}
	s.m[s.key] = v
}

// insert stores val in the tree at the path given by parts, creating hashes
// and lists on the way.
func insert(root map[string]any, parts []string, val string) error {
	s := slot{m: root, key: parts[0]}
	path := parts[0]
	for _, seg := range parts[1:] {
		i, isIndex := index(seg)
		wantList := isIndex || seg == ""
		want := "a hash"
		if wantList {
			want = "an array"
		}
		cur := s.get()
		if cur == nil {
			if wantList {
				cur = &list{items: map[int]any{}}
			} else {
				cur = map[string]any{}
			}
			s.set(cur)
		}
		switch c := cur.(type) {
		case *list:
			if wantList {
				if seg == "" {
					i = c.n
				}
				s, path = slot{l: c, i: i}, path+"["+strconv.Itoa(i)+"]"
				continue
			}
		case map[string]any:
			if !wantList {
				s, path = slot{m: c, key: seg}, join(path, seg)
				continue
			}
		}
		return conflict(path, cur, want)
	}
	switch cur := s.get().(type) {
	case nil:
		s.set(val)
		return nil
	case string:
		return &Error{Param: path, Message: "Duplicate parameter: " + path}
	default:
		return conflict(path, cur, "a string")
	}
}

// conflict reports a parameter given as both the node it already is and as
// want.
func conflict(path string, node any, want string) error {
	was := "a string"
	switch node.(type) {
	case *list:
		was = "an array"
	case map[string]any:
		was = "a hash"
	}
	return &Error{Param: path, Message: fmt.Sprintf("Conflicting parameters: %s is given as both %s and %s", path, was, want)}
}

// finish turns the lists in a tree under construction into []any, checking
// that their indexes are 0..n-1. It visits hash keys in sorted order so that
// the error reported for a request is always the same.
func finish(path string, v any) (any, error) {
	switch c := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(c)) {
			x, err := finish(join(path, k), c[k])
			if err != nil {
				return nil, err
			}
			c[k] = x
		}
	case *list:
		out := make([]any, c.n)
		for i := range out {
			item, ok := c.items[i]
			if !ok {
				return nil, &Error{Param: path, Message: fmt.Sprintf("Invalid array: %s has no index %d", path, i)}
			}
			x, err := finish(path+"["+strconv.Itoa(i)+"]", item)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	}
	return v, nil
}
