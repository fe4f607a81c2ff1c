// Package web serves paidup over HTTP: the customer pages (plans, checkout
// and its status), the processor webhooks, and /healthz and /metrics.
// Pages are rendered on the server from embedded templates.
package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
)

// Deps are what the web server needs.
type Deps struct {
	Store    *store.Store
	DB       *sqldb.DB
	Queue    *queue.Client
	Checkout *checkout.Service
	Ingester *events.Ingester
	Outbox   *notify.Outbox
	// SignIns queues the sign-in emails the account page asks for, after
	// the page has answered.
	SignIns *notify.SignInRequests
	// Mail is the mail server, asked whether it can deliver to an address
	// a customer types; nil takes every address.
	Mail MailServer
	// Webhooks verifies Stripe's signed webhooks.
	Webhooks stripe.Verifier
	Policy   *paidup.Policy
	// Billing opens processors' card pages, and cancels and resumes
	// subscriptions, by processor name ("stripe").
	Billing map[string]paidup.Billing
	// Subscriptions sync a subscription a customer changed, by processor
	// name.
	Subscriptions map[string]SubscriptionSyncer
	Business      Business
	// PublicURL is how customers reach paidup, for links and cookies.
	PublicURL string
	// APIKeys are the bearer keys of the operator's app; none turns the
	// API off.
	APIKeys []string
	// SessionTTL is how long a customer stays signed in; LinkTTL is how
	// long an emailed sign-in link works.
	SessionTTL time.Duration
	LinkTTL    time.Duration
	// SignInLimit is how many sign-in links an address may ask for in
	// each SignInWindow (as notify.Outbox sends them); zero: the
	// defaults.
	SignInLimit  int
	SignInWindow time.Duration
	// Now is the business clock.
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *obs.Metrics

	// Limits are the per-client limits; the zero value is none.
	Limits Limits
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// PageOrigins are the origins of the processor's pages a form sends
	// customers to (its checkout and card pages): the only places besides
	// paidup that the pages' forms may lead.
	PageOrigins []string
}

// Business is how pages name the operator.
type Business struct {
	Name         string
	SupportEmail string
	// ReplyWithin is how soon a person answers: "one business day".
	ReplyWithin string
	// StatementShowsReference: a one-time payment's line on the bank
	// statement carries its reference.
	StatementShowsReference bool
}

// Server is paidup's HTTP handler.
type Server struct {
	Deps
	mux      *http.ServeMux
	refusals *rateLimitedLog
	// webhookRefusals and limitRefusals count refusals for on-call.
	webhookRefusals, limitRefusals burstCount
	limits                         routeLimits
	signInPace                     *signInPace
	// csp is the pages' Content-Security-Policy; hsts, whether responses
	// tell browsers to come back over https only.
	csp  string
	hsts bool
}

// NewServer returns paidup's HTTP handler.
func NewServer(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = obs.NewMetrics()
	}
	if d.Business.ReplyWithin == "" {
		d.Business.ReplyWithin = "one business day"
	}
	s := &Server{Deps: d, mux: http.NewServeMux(), refusals: newRateLimitedLog(d.Logger, 10*time.Second),
		limits: newRouteLimits(d.Limits), csp: contentSecurityPolicy(d.PageOrigins), hsts: strings.HasPrefix(d.PublicURL, "https://")}
	s.signInPace = newSignInPace(cmp.Or(d.SignInLimit, notify.DefaultSignInLimit), cmp.Or(d.SignInWindow, notify.DefaultSignInWindow), 100_000)
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.hsts {
		// Customers reach paidup over https: browsers are to use nothing
		// else for a year.
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	s.mux.ServeHTTP(w, r)
}

//go:embed templates
var templateFiles embed.FS

// pages holds one template set per page, each with the shared layout, so
// that a page may define its own blocks.
var pages = parsePages()

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := path.Base(n)
		if name == "layout.html" {
			continue
		}
		out[name] = template.Must(template.New(name).ParseFS(templateFiles, "templates/layout.html", n))
	}
	return out
}

func executePage(w io.Writer, name string, data any) error {
	t, ok := pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	return t.ExecuteTemplate(w, name, data)
}

// page is the data every customer page template gets.
type page struct {
	Title    string
	Business Business
	Data     any
}

// render writes a customer page. A template error becomes the recovery
// page, never a half-written body.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var b strings.Builder
	if err := executePage(&b, name, page{Title: title, Business: s.Business, Data: data}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// errorPage is shown when something went wrong; Ref lets support find the
// log line.
type errorPage struct {
	Heading string
	Message string
	Ref     string
}

// fail answers an error: application errors with their own message and
// status, anything else with a recovery page that reveals nothing and gives
// a reference that support can find in the logs.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := paidup.ErrorCode(err)
	status := httpStatus(code)
	ref := requestRef(r)
	if code == paidup.EINTERNAL || code == paidup.EUNAVAILABLE {
		s.Logger.Error("request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	data := errorPage{Heading: "Something went wrong on our side", Message: paidup.ErrorMessage(err), Ref: ref}
	switch code {
	case paidup.ENOTFOUND:
		data.Heading = "We could not find that page"
	case paidup.EINVALID:
		data.Heading = "Please check what you entered"
	case paidup.EUNAVAILABLE:
		data.Heading = "We could not finish that just now"
	}
	var b strings.Builder
	if terr := executePage(&b, "error.html", page{Title: data.Heading, Business: s.Business, Data: data}); terr != nil {
		s.Logger.Error("rendering the error page failed", "ref", ref, "err", terr)
		b.Reset()
		b.WriteString("<!doctype html><title>Something went wrong</title><h1>Something went wrong on our side</h1><p>Please try again in a minute. Reference: " + ref + "</p>")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func httpStatus(code string) int {
	switch code {
	case paidup.EINVALID:
		return http.StatusBadRequest
	case paidup.ENOTFOUND:
		return http.StatusNotFound
	case paidup.ECONFLICT:
		return http.StatusConflict
	case paidup.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case paidup.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type ctxKey int

const refKey ctxKey = iota

// requestRef is the request's reference, set by the middleware.
func requestRef(r *http.Request) string {
	if ref, ok := r.Context().Value(refKey).(string); ok {
		return ref
	}
	return "-"
}

func newRef() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "R-" + strings.ToUpper(hex.EncodeToString(b))
}

func withRef(ctx context.Context, ref string) context.Context {
	return context.WithValue(ctx, refKey, ref)
}

var errNotFound = paidup.Errorf(paidup.ENOTFOUND, "There is nothing at this address. If you followed a link from an email, check that it was copied whole.")
