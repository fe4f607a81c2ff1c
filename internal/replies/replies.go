// Package replies is the templates a person answers a support case from:
// Markdown with named fields (the amount, the reference, a sign-in link),
// sent with a plain-text part (the Markdown itself) and an HTML part. The
// built-in ones are written for an anxious reader: the charge first, what
// was done, what they need to do (ideally nothing), how to reach a person.
// An operator's directory of NAME.md files overrides or adds to them.
package replies

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/yuin/goldmark"
)

// Fields are what a template may name, as {{.Amount}} and so on. Each is
// words for the customer; empty when unknown.
type Fields struct {
	Business, SupportEmail string
	CustomerEmail          string
	// Reference is paidup's reference of the purchase (PU-…); Case the
	// support case's number.
	Reference, Case string
	// Amount is the money at stake ("$249.00"); Plan and Tier what it
	// bought; Until the day access ends ("3 December 2027").
	Amount, Plan, Tier, Until string
	ReplyWithin               string
	// SignInLink is a one-use sign-in link, made when the reply is sent.
	SignInLink string
}

// SignInPlaceholder stands for the sign-in link in a rendered reply until
// it is sent, when the link is made.
const SignInPlaceholder = "\x00sign-in-link\x00"

// Reply is a rendered reply: its subject, its plain text (the Markdown,
// with the fields as they are) and its Markdown for the HTML part (the
// fields escaped, so that what a customer typed cannot format it).
type Reply struct {
	Template, Subject, Text, Markdown string
}

// Template is a reply template.
type Template struct {
	Name string
	// Source is "built in" or the file it was read from.
	Source        string
	subject, body *template.Template
}

// Set is the templates by name.
type Set struct{ byName map[string]*Template }

//go:embed builtin/*.md
var builtinFiles embed.FS

var templateName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Load reads the built-in templates and, if dir is not empty, its NAME.md
// files, which replace the built-in of the same name or add to them. Each
// file is "Subject: …", a blank line, then the Markdown body. A template
// that names a field that does not exist, or does not render, is refused
// with its file.
func Load(dir string) (*Set, error) {
	s := &Set{byName: map[string]*Template{}}
	var errs []error
	add := func(fsys fs.FS, pattern, source string) {
		names, _ := fs.Glob(fsys, pattern)
		for _, path := range names {
			name := strings.TrimSuffix(filepath.Base(path), ".md")
			where := source
			if where == "" {
				where = filepath.Join(dir, filepath.Base(path))
			}
			if !templateName.MatchString(name) {
				errs = append(errs, fmt.Errorf("%s: a template's name is lower-case letters, digits, - and _", where))
				continue
			}
			raw, err := fs.ReadFile(fsys, path)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			t, err := parse(name, where, string(raw))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.byName[name] = t
		}
	}
	add(builtinFiles, "builtin/*.md", "built in")
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("reply templates: %w", err)
		}
		add(os.DirFS(dir), "*.md", "")
	}
	return s, errors.Join(errs...)
}

func parse(name, where, raw string) (*Template, error) {
	head, body, ok := strings.Cut(strings.ReplaceAll(raw, "\r\n", "\n"), "\n\n")
	subject, isSubject := strings.CutPrefix(head, "Subject:")
	if !ok || !isSubject || strings.Contains(head, "\n") {
		return nil, fmt.Errorf("%s: want a first line \"Subject: …\", a blank line, then the body", where)
	}
	t := &Template{Name: name, Source: where}
	var err error
	if t.subject, err = template.New(name).Option("missingkey=error").Parse(strings.TrimSpace(subject)); err != nil {
		return nil, fmt.Errorf("%s: the subject: %w", where, err)
	}
	if t.body, err = template.New(name).Option("missingkey=error").Parse(strings.TrimSpace(body) + "\n"); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if _, err := t.render(sample); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return t, nil
}

// sample is what templates are checked with when they are read.
var sample = Fields{Business: "Example", SupportEmail: "help@example.com", CustomerEmail: "ada@example.com", Reference: "PU-7K3M-Q9XD",
	Case: "sc_example", Amount: "$249.00", Plan: "Pro, one year", Tier: "Pro", Until: "3 December 2027", ReplyWithin: "one business day",
	SignInLink: "https://example.com/account/sign-in?token=example"}

// Names lists the templates, sorted.
func (s *Set) Names() []string {
	var out []string
	for name := range s.byName {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Template is the template called name.
func (s *Set) Template(name string) (*Template, bool) {
	t, ok := s.byName[name]
	return t, ok
}

// Render renders the template called name with f. The sign-in link, if
// the template names it, is SignInPlaceholder until the reply is sent.
func (s *Set) Render(name string, f Fields) (Reply, error) {
	t, ok := s.byName[name]
	if !ok {
		return Reply{}, fmt.Errorf("no reply template named %q (there are: %s)", name, strings.Join(s.Names(), ", "))
	}
	f.SignInLink = SignInPlaceholder
	return t.render(f)
}

func (t *Template) render(f Fields) (Reply, error) {
	r := Reply{Template: t.Name}
	var b bytes.Buffer
	if err := t.subject.Execute(&b, f); err != nil {
		return r, err
	}
	r.Subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := t.body.Execute(&b, f); err != nil {
		return r, err
	}
	r.Text = b.String()
	b.Reset()
	if err := t.body.Execute(&b, escaped(f)); err != nil {
		return r, err
	}
	r.Markdown = b.String()
	return r, nil
}

// escaped is f with every field escaped for Markdown, but the sign-in
// link, which is paidup's own.
func escaped(f Fields) Fields {
	e := func(s string) string { return markdownSpecial.ReplaceAllString(s, `\$0`) }
	link := f.SignInLink
	f = Fields{Business: e(f.Business), SupportEmail: e(f.SupportEmail), CustomerEmail: e(f.CustomerEmail), Reference: e(f.Reference),
		Case: e(f.Case), Amount: e(f.Amount), Plan: e(f.Plan), Tier: e(f.Tier), Until: e(f.Until), ReplyWithin: e(f.ReplyWithin)}
	f.SignInLink = link
	return f
}

var markdownSpecial = regexp.MustCompile("[\\\\`*_{}\\[\\]()<>#+\\-.!|~&]")

var md = goldmark.New()

// HTML renders a reply's Markdown as HTML. Raw HTML in it is not passed
// through.
func HTML(markdown string) (string, error) {
	var b bytes.Buffer
	if err := md.Convert([]byte(markdown), &b); err != nil {
		return "", err
	}
	return b.String(), nil
}
