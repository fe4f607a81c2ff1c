package notify

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
)

// Templates are the email templates, by name: the built-in ones, each of
// whose files (NAME.txt, defining "subject" and "text"; NAME.html,
// defining "html") an override directory may replace, and any new ones
// the directory adds (a reminder may name one).
type Templates struct {
	// Dir is the override directory; empty for the built-in templates.
	Dir    string
	byName map[string]*emailTemplate
}

type emailTemplate struct {
	name string
	// kind is the email kind whose data the template renders; a new
	// template renders a reminder's.
	kind     string
	text     *texttemplate.Template
	html     *htmltemplate.Template
	textFrom string // where the text came from: the built-in file or a path
	htmlFrom string
}

// TemplateInfo describes a template for listings.
type TemplateInfo struct {
	Name string
	Kind string // the email kind whose data it renders
	// Text and HTML say where each file comes from: "built in", or the
	// override file's path.
	Text, HTML string
}

// builtinKinds are the built-in templates, in the order they are listed.
var builtinKinds = []string{
	KindConfirmation, KindSignIn, KindPaymentFailed, KindPaymentReminder, KindPaymentFinalReminder,
	KindGraceEnded, KindWelcomeBack, KindAlert, KindDisputeAlert,
	KindCaseOpened, KindCaseAnswered,
	KindCancellation, KindResumed, KindRenewalReceipt,
	KindAccessOnHold, KindAccessRestored,
	KindRefundIssued,
	KindSubscriptionEnded,
	KindOnCallAlert, KindOnCallDigest,
	KindHelpAccess, KindHelpReceived,
	KindCaseReply,
}

// BuiltinTemplates names the built-in templates.
func BuiltinTemplates() []string { return slices.Clone(builtinKinds) }

var builtin = mustLoadBuiltin()

func mustLoadBuiltin() *Templates {
	t, err := LoadTemplates("")
	if err != nil {
		panic(err)
	}
	return t
}

var templateName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// LoadTemplates reads the built-in templates and, if dir is not empty, the
// override directory's NAME.txt and NAME.html files. Each problem is
// reported with its file and reason. Other files in dir are ignored.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{Dir: dir, byName: map[string]*emailTemplate{}}
	var errs []error
	for _, kind := range builtinKinds {
		et := &emailTemplate{name: kind, kind: kind, textFrom: "built-in " + kind + ".txt", htmlFrom: "built-in " + kind + ".html"}
		var err error
		if et.text, err = parseText(templateFiles, "templates/"+kind+".txt", et.textFrom); err != nil {
			return nil, err
		}
		if et.html, err = parseHTML(templateFiles, "templates/"+kind+".html", et.htmlFrom); err != nil {
			return nil, err
		}
		t.byName[kind] = et
	}
	if dir == "" {
		return t, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading email templates: %w", err)
	}
	added := map[string]*emailTemplate{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".txt" && ext != ".html") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ext)
		path := filepath.Join(dir, e.Name())
		if !templateName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s: a template's name is lower-case letters, digits, - and _", path))
			continue
		}
		et := t.byName[name]
		if et == nil {
			et = &emailTemplate{name: name, kind: KindPaymentReminder}
			t.byName[name], added[name] = et, et
		}
		fsys := os.DirFS(dir)
		if ext == ".txt" {
			if tt, err := parseText(fsys, e.Name(), path); err != nil {
				errs = append(errs, err)
			} else {
				et.text, et.textFrom = tt, path
			}
		} else {
			if ht, err := parseHTML(fsys, e.Name(), path); err != nil {
				errs = append(errs, err)
			} else {
				et.html, et.htmlFrom = ht, path
			}
		}
	}
	for name, et := range added {
		if et.textFrom == "" && et.htmlFrom != "" {
			errs = append(errs, fmt.Errorf("%s: there is no built-in template %q, so %s.txt (the subject and text) is needed too", et.htmlFrom, name, name))
		}
		if et.htmlFrom == "" && et.textFrom != "" {
			errs = append(errs, fmt.Errorf("%s: there is no built-in template %q, so %s.html is needed too", et.textFrom, name, name))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func parseText(fsys fs.FS, file, from string) (*texttemplate.Template, error) {
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	tt, err := texttemplate.New(filepath.Base(file)).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	for _, name := range []string{"subject", "text"} {
		if tt.Lookup(name) == nil {
			return nil, fmt.Errorf(`%s: defines no %q template; a text file defines "subject" and "text", like {{define "subject"}}…{{end}}`, from, name)
		}
	}
	return tt, nil
}

func parseHTML(fsys fs.FS, file, from string) (*htmltemplate.Template, error) {
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	ht, err := htmltemplate.New(filepath.Base(file)).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if ht.Lookup("html") == nil {
		return nil, fmt.Errorf(`%s: defines no "html" template; an HTML file defines it, like {{define "html"}}…{{end}}`, from)
	}
	return ht, nil
}

// Has reports whether a template of that name exists.
func (t *Templates) Has(name string) bool { return t.byName[name] != nil }

// List describes every template: the built-in ones in their order, then
// the override directory's new ones by name.
func (t *Templates) List() []TemplateInfo {
	var out []TemplateInfo
	for _, et := range t.byName {
		info := TemplateInfo{Name: et.name, Kind: et.kind, Text: et.textFrom, HTML: et.htmlFrom}
		if strings.HasPrefix(info.Text, "built-in ") {
			info.Text = "built in"
		}
		if strings.HasPrefix(info.HTML, "built-in ") {
			info.HTML = "built in"
		}
		out = append(out, info)
	}
	order := func(name string) int {
		if i := slices.Index(builtinKinds, name); i >= 0 {
			return i
		}
		return len(builtinKinds)
	}
	slices.SortFunc(out, func(a, b TemplateInfo) int {
		if d := order(a.Name) - order(b.Name); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// render fills m's subject, text and HTML from the template name. An
// error names the file at fault.
func (t *Templates) render(m *Message, name string, data any) (*Message, error) {
	et := t.byName[name]
	if et == nil {
		return nil, fmt.Errorf("no email template named %q", name)
	}
	var subject, text, html bytes.Buffer
	if err := et.text.ExecuteTemplate(&subject, "subject", data); err != nil {
		return nil, fmt.Errorf("%s: %w", et.textFrom, err)
	}
	if err := et.text.ExecuteTemplate(&text, "text", data); err != nil {
		return nil, fmt.Errorf("%s: %w", et.textFrom, err)
	}
	if err := et.html.ExecuteTemplate(&html, "html", data); err != nil {
		return nil, fmt.Errorf("%s: %w", et.htmlFrom, err)
	}
	m.Subject, m.Text, m.HTML = strings.Join(strings.Fields(subject.String()), " "), text.String(), html.String()
	return m, nil
}
