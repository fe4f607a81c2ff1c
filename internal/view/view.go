// Package view is what paidup's pages share, the customer's (internal/web)
// and the console's (internal/console): the templates' common parts (the
// style, the error message), parsing a site's pages with its layout,
// writing a rendered page, the security headers, error pages, request
// references, and who a request comes from.
package view

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
)

//go:embed templates
var shared embed.FS

// Pages is a site's pages by file name, each parsed with the shared
// templates and the site's layout, so that a page may define its own
// blocks.
type Pages map[string]*template.Template

// Parse parses every page of fsys matching glob, each with layout and the
// shared templates. It panics on a template error: pages are embedded, so
// that is a mistake in paidup, found by its tests.
func Parse(fsys fs.FS, layout, glob string, funcs template.FuncMap) Pages {
	names, err := fs.Glob(fsys, glob)
	if err != nil {
		panic(err)
	}
	out := Pages{}
	for _, n := range names {
		if n == layout {
			continue
		}
		name := path.Base(n)
		t := template.Must(template.New(name).Funcs(funcs).ParseFS(shared, "templates/*.html"))
		out[name] = template.Must(t.ParseFS(fsys, layout, n))
	}
	return out
}

// Execute renders the page name with data.
func (p Pages) Execute(w io.Writer, name string, data any) error {
	t, ok := p[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	return t.ExecuteTemplate(w, name, data)
}

// Write answers a rendered page: rendered whole first (see Pages.Execute),
// so that a template error never leaves half a page.
func Write(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
