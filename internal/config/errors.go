package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a configuration file, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// validator collects every problem with its line, so that one run of paidup
// shows them all.
type validator struct {
	source string
	root   *yaml.Node
	errs   []*Error
}

func (v *validator) errorf(line int, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.source, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// line finds the line of the value at path (mapping keys as strings,
// sequence indexes as ints). When the path does not exist — a key left
// out — it returns the line of the deepest part that does.
func (v *validator) line(path ...any) int {
	n := v.root
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						line = n.Content[i].Line
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	cannotDecode = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
	wrongShape   = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(map|seq) into (\S+)$`)
	anyLine      = regexp.MustCompile(`^line (\d+): (.*)$`)
	syntaxError  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// yamlError rewrites the YAML library's errors to speak of keys and values
// as the operator wrote them, not of Go types.
func yamlError(source string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, msg := range te.Errors {
			errs = append(errs, typeError(source, msg))
		}
		return errors.Join(errs...)
	}
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = source
		return ce
	}
	if m := syntaxError.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: source, Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return &Error{File: source, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

func typeError(source, msg string) *Error {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: source, Line: line, Msg: fmt.Sprintf("unknown key %q (see paidup.example.yaml for every key)", m[2])}
	}
	if m := cannotDecode.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		want := map[string]string{"string": "text", "int": "a whole number", "bool": "true or false"}[m[4]]
		switch {
		case strings.HasPrefix(m[4], "[]"):
			want = "a list"
		case strings.HasPrefix(m[4], "*") || strings.Contains(m[4], "."):
			if m[2] == "seq" {
				want = "a mapping of keys, not a list"
			} else {
				want = "a mapping of keys"
			}
		case want == "" && m[4] == "*int":
			want = "a whole number"
		}
		if want == "" {
			want = "a different kind of value"
		}
		return &Error{File: source, Line: line, Msg: fmt.Sprintf("%q: want %s", m[3], want)}
	}
	if m := wrongShape.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		found := map[string]string{"map": "a mapping", "seq": "a list"}[m[2]]
		want := "a single value"
		switch {
		case strings.HasPrefix(m[3], "[]"):
			want = "a list"
		case strings.Contains(m[3], "config."):
			want = "a mapping of keys"
		}
		return &Error{File: source, Line: line, Msg: fmt.Sprintf("want %s here, found %s", want, found)}
	}
	if m := anyLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: source, Line: line, Msg: m[2]}
	}
	return &Error{File: source, Msg: msg}
}
