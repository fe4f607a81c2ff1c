// Package web serves paidup over HTTP: the customer pages (plans, checkout
// and its status), the processor webhooks, and /healthz and /metrics.
// Pages are rendered on the server from embedded templates.
package web

import (
	"cmp"
	"embed"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
	"github.com/paidup/paidup/internal/view"
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
	// Threads takes the customers' answers to replies, from the reply
	// page (/reply/{token}) and the inbound-mail webhook.
	Threads *inbound.Threads
	// Mailgun reads the inbound-mail webhook (POST /inbound/mailgun);
	// nil turns it off.
	Mailgun  *inbound.Mailgun
	Business Business
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
		limits: newRouteLimits(d.Limits), csp: view.ContentSecurityPolicy(d.PageOrigins), hsts: strings.HasPrefix(d.PublicURL, "https://")}
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
var pages = view.Parse(templateFiles, "templates/layout.html", "templates/*.html", nil)

func executePage(w io.Writer, name string, data any) error { return pages.Execute(w, name, data) }

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
	view.Write(w, status, b.String())
}

// errorPage is shown when something went wrong.
type errorPage = view.ErrorPage

// fail answers an error: application errors with their own message and
// status, anything else with a recovery page that reveals nothing and gives
// a reference that support can find in the logs.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ref := requestRef(r)
	if view.Logged(err) {
		s.Logger.Error("request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	data := view.ErrorFor(err, ref)
	var b strings.Builder
	if terr := executePage(&b, "error.html", page{Title: data.Heading, Business: s.Business, Data: data}); terr != nil {
		s.Logger.Error("rendering the error page failed", "ref", ref, "err", terr)
		b.Reset()
		b.WriteString(view.FallbackPage(ref))
	}
	w.Header().Set("Cache-Control", "no-store")
	view.Write(w, view.HTTPStatus(paidup.ErrorCode(err)), b.String())
}

// requestRef is the request's reference, set by the middleware.
func requestRef(r *http.Request) string { return view.Ref(r) }

// clientAddr is who a request comes from, for the per-client limits (see
// view.ClientAddr).
func (s *Server) clientAddr(r *http.Request) netip.Addr { return view.ClientAddr(r, s.TrustedProxies) }

var errNotFound = paidup.Errorf(paidup.ENOTFOUND, "There is nothing at this address. If you followed a link from an email, check that it was copied whole.")
