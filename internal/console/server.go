// Package console serves the support console under /console/: the
// operators' sign-in (a password, then a code from their phone or a
// recovery code), the open support cases, and what paidup knows about a
// customer. Its pages are server-rendered from embedded templates, with
// the customer pages' shared parts (internal/view).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/oncall"
	"github.com/paidup/paidup/internal/operator"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/support"
	"github.com/paidup/paidup/internal/view"
)

// Deps are what the console needs.
type Deps struct {
	Store     *store.Store
	Operators *operator.Service
	// Support takes the actions the console's buttons ask for.
	Support *support.Service
	// AccountView renders a customer's account page as they see it now,
	// its buttons disabled; nil: the console does not show it.
	AccountView func(ctx context.Context, customerID string) (string, error)
	// OnCall is who is paged, and Alerts acknowledges alerts; nil: on
	// call is not set up.
	OnCall *oncall.Evaluator
	Alerts *oncall.Acknowledger
	Policy *paidup.Policy
	// Business names the operator's business in the pages' titles.
	Business string
	// PublicURL is how operators reach paidup: its origin is trusted for
	// form posts, and https there makes browsers keep to https.
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Now is the business clock, at which access is read.
	Now    func() time.Time
	Logger *slog.Logger
	// Delays are the growing waits after failed sign-ins; nil: the
	// defaults, on the wall clock.
	Delays *Delays
}

// Server is the console's HTTP handler.
type Server struct {
	Deps
	mux     *http.ServeMux
	handler http.Handler
	csp     string
	hsts    bool
}

// NewServer returns the console's handler, for paths under /console/.
func NewServer(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Delays == nil {
		d.Delays = NewDelays(nil)
	}
	s := &Server{Deps: d, mux: http.NewServeMux(), csp: view.ContentSecurityPolicy(nil), hsts: strings.HasPrefix(d.PublicURL, "https://")}
	s.routes()
	// Every state-changing request (the forms' posts) must come from the
	// console's own pages: the browser says where a request comes from
	// (Sec-Fetch-Site, Origin), and a request from another site is
	// refused before any handler runs.
	cop := http.NewCrossOriginProtection()
	if o := origin(d.PublicURL); o != "" {
		cop.AddTrustedOrigin(o)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errCrossOrigin)
	}))
	s.handler = s.protect(cop.Handler(s.mux))
	return s
}

var errCrossOrigin = paidup.Errorf(paidup.EUNAUTHORIZED, "This form was sent from another site, so nothing was done. Open the console and try again from there.")

func origin(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	if host == "" {
		return ""
	}
	return scheme + "://" + host
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// protect gives every console answer its reference and security headers,
// logs one line for it, and turns a panic into the error page.
func (s *Server) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, ref := time.Now(), view.NewRef()
		r = r.WithContext(view.WithRef(r.Context(), ref))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		w = sw
		defer func() {
			s.Logger.Info("http", "ref", ref, "method", r.Method, "path", r.URL.Path, "status", sw.status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		view.SecurityHeaders(w.Header(), s.csp)
		if s.hsts {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic serving a console page", "ref", view.Ref(r), "panic", v, "stack", string(debug.Stack()))
				s.fail(w, r, errPanic)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

var errPanic = paidup.Errorf(paidup.EINTERNAL, "panic while serving a console page")

//go:embed templates
var templateFiles embed.FS

var pages = view.Parse(templateFiles, "templates/layout.html", "templates/*.html", template.FuncMap{
	"when":       when,
	"ago":        ago,
	"newRequest": newRequestID,
})

// page is the data every console page gets.
type page struct {
	Title    string
	Business string
	// Operator is who is signed in; empty on the sign-in pages.
	Operator string
	Data     any
}

// render writes a console page; a template error becomes the error page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var b strings.Builder
	p := page{Title: title, Business: s.Business, Data: data}
	if op, ok := operatorOf(r.Context()); ok {
		p.Operator = op.Email
	}
	if err := pages.Execute(&b, name, p); err != nil {
		s.fail(w, r, err)
		return
	}
	view.Write(w, status, b.String())
}

// fail answers an error with the console's error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ref := view.Ref(r)
	if view.Logged(err) {
		s.Logger.Error("console request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	data := view.ErrorFor(err, ref)
	status := view.HTTPStatus(paidup.ErrorCode(err))
	if errors.Is(err, errCrossOrigin) {
		data.Heading, status = "That was refused", http.StatusForbidden
	}
	var b strings.Builder
	if terr := pages.Execute(&b, "error.html", page{Title: data.Heading, Business: s.Business, Data: data}); terr != nil {
		s.Logger.Error("rendering the console's error page failed", "ref", ref, "err", terr)
		b.Reset()
		b.WriteString(view.FallbackPage(ref))
	}
	view.Write(w, status, b.String())
}

type ctxKey struct{}

func withOperator(ctx context.Context, op paidup.Operator) context.Context {
	return context.WithValue(ctx, ctxKey{}, op)
}

// operatorOf is the operator signed in for the request.
func operatorOf(ctx context.Context) (paidup.Operator, bool) {
	op, ok := ctx.Value(ctxKey{}).(paidup.Operator)
	return op, ok
}

// when writes a moment for the console: "2026-12-04 09:14 UTC".
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}

// ago is how long ago t was, roughly: "3 h", "2 d".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return fmt.Sprintf("%d d", d/(24*time.Hour))
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
