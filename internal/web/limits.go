package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/store"
)

// Limits are the per-client limits on what costs paidup something. A rule
// with no burst leaves its requests unlimited; the zero Limits limit
// nothing.
type Limits struct {
	// Checkout: POST /buy/{plan}, each a processor checkout.
	Checkout limit.Rule
	// SignInLink: POST /account/link; SignIn: POST /account/sign-in.
	SignInLink, SignIn limit.Rule
	// Status: GET /checkout/{reference}.
	Status limit.Rule
	// Help: POST /help, each a look at the processor and an email.
	Help limit.Rule
	// Reply: POST /reply/{token}, a customer's answer, by client;
	// ReplyLink the same by the link's token, from any client.
	Reply, ReplyLink limit.Rule
	// Account: a signed-in customer's changes, each a processor call
	// (POST /account/cancel, /account/resume, /account/card).
	Account limit.Rule
	// APIAuthFailures: API requests without a right key.
	APIAuthFailures limit.Rule
	// MaxClients is how many client addresses each limit remembers.
	MaxClients int
	// AlertAfter refusals within burstWindow alert on-call; 0 never.
	AlertAfter int
}

// Names of the limits, as metrics and logs give them.
const (
	limitCheckout   = "checkout"
	limitSignInLink = "sign_in_link"
	limitSignIn     = "sign_in"
	limitStatus     = "status"
	limitAccount    = "account"
	limitHelp       = "help"
	limitReply      = "reply"
	limitReplyLink  = "reply_link"
	limitAPIAuth    = "api_auth"
	limitBudget     = "processor_budget"
)

// limitSettings names each limit's settings in the configuration, for
// on-call.
var limitSettings = map[string]string{limitCheckout: "checkout", limitSignInLink: "sign_in_link", limitSignIn: "sign_in",
	limitStatus: "status", limitAccount: "account", limitHelp: "help", limitReply: "reply", limitReplyLink: "reply_link", limitAPIAuth: "api_auth_failures", limitBudget: "processor"}

// routeLimit is a per-client limit, with the calm page a refused customer
// reads.
type routeLimit struct {
	name    string
	clients *limit.Clients
	page    limitedPage
}

// limitedPage is the page of a request refused by a limit: what is true
// for the page the customer was on.
type limitedPage struct {
	Message string
	// Reload: the page reloads itself after a minute.
	Reload bool
}

// What a customer refused by a limit reads. Each is true whatever state
// their purchase is in: a status page never says nothing was charged, as
// they may have paid.
var (
	checkoutLimitedPage = limitedPage{Message: "We've had too many purchases started from your connection in the last minute, so we did not start this one, and nothing was charged for it. Please wait a minute, then try again."}
	busyBuyMessage      = "We're busier than usual just now, so we did not start this purchase, and nothing was charged for it. Please wait a minute, then try again."
	statusLimitedPage   = limitedPage{Reload: true, Message: "We've had too many requests for purchase pages from your connection in the last minute. Your purchase is safe: nothing about it has changed, and if you have paid, you do not need to pay again. Please wait a minute, then reload this page (it also reloads by itself)."}
	linkLimitedPage     = limitedPage{Message: "We've had too many requests for sign-in links from your connection in the last minute. Please wait a minute, then try again. If you asked for a link earlier, it may already be in your inbox."}
	accountLimitedPage  = limitedPage{Message: "We've had too many changes asked for from your connection in the last minute, so we did not make this one: nothing about your plan or your card has changed. Please wait a minute, then try again from your account page."}
	helpLimitedPage     = limitedPage{Message: "We've had too many help requests from your connection in the last minute, so we did not take this one. Please wait a minute, then send it again; if you sent one earlier, its answer is on its way by email."}
	replyLimitedPage    = limitedPage{Message: "We've had too many answers from your connection, or through this link, in the last minute, so we did not take this one. Please wait a minute, then send it again; what you sent before has reached us."}
	signInLimitedPage   = limitedPage{Message: "We've had too many sign-ins from your connection in the last minute. Your sign-in link has not been used by this, so it still works until it expires: please wait a minute, then open it again."}
)

// routeLimits are the server's per-client limits; a nil one is off.
type routeLimits struct {
	checkout, signInLink, signIn, status, account, help, reply, replyLink, apiAuth *routeLimit
}

func newRouteLimits(l Limits) routeLimits {
	newLimit := func(name string, r limit.Rule, page limitedPage) *routeLimit {
		if r.Burst <= 0 {
			return nil
		}
		return &routeLimit{name: name, clients: limit.NewClients(r, l.MaxClients, nil), page: page}
	}
	return routeLimits{
		checkout:   newLimit(limitCheckout, l.Checkout, checkoutLimitedPage),
		signInLink: newLimit(limitSignInLink, l.SignInLink, linkLimitedPage),
		signIn:     newLimit(limitSignIn, l.SignIn, signInLimitedPage),
		status:     newLimit(limitStatus, l.Status, statusLimitedPage),
		account:    newLimit(limitAccount, l.Account, accountLimitedPage),
		help:       newLimit(limitHelp, l.Help, helpLimitedPage),
		reply:      newLimit(limitReply, l.Reply, replyLimitedPage),
		replyLink:  newLimit(limitReplyLink, l.ReplyLink, replyLimitedPage),
		apiAuth:    newLimit(limitAPIAuth, l.APIAuthFailures, limitedPage{}),
	}
}

// limited lets a client's request through while its allowance lasts, and
// answers the calm page after. Without the limit, next is served as it is.
func (s *Server) limited(l *routeLimit, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := s.clientAddr(r)
		if ok, _ := l.clients.Allow(client); !ok {
			s.countLimited(r, l.name, client)
			s.renderLimited(w, r, l.page)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// renderLimited answers 429 with the calm page. Retry-After says a
// minute, as the page does; waiting that long always gives the client
// another request.
func (s *Server) renderLimited(w http.ResponseWriter, r *http.Request, p limitedPage) {
	w.Header().Set("Retry-After", "60")
	s.render(w, r, http.StatusTooManyRequests, "limited.html", "Please wait a minute", p)
}

// countLimited counts a refusal: the metric, a log line (at most one per
// limit every 10 s, with the client's address, so the operator can block
// a flood at the proxy), and on-call's attention when refusals go on.
func (s *Server) countLimited(r *http.Request, name string, client netip.Addr) {
	s.Metrics.RequestsLimited.WithLabelValues(name).Inc()
	s.refusals.warn("limited:"+name, "request limited", "limit", name, "client", client.String())
	if n, alert := s.limitRefusals.add(s.Now(), s.Limits.AlertAfter); alert {
		s.alert(r, paidup.SupportCase{
			DedupeKey: "requests_limited:" + s.Now().UTC().Format("2006-01-02T15"), Kind: paidup.CaseRequestsLimit,
			Summary: fmt.Sprintf("paidup's limits refused %d requests in the last %s (the last: %s, from %s). Something is asking far more often than a person would: a script, a flood, or someone guessing purchase references. If it is one address, consider blocking it at your proxy; if it is many customers behind one address (an office, a school), raise limits.%s in the configuration. The log's \"request limited\" lines name the addresses.",
				n, burstWindow, name, client, limitSettings[name]),
		})
	}
}

// alert opens a support case, which alerts on-call.
func (s *Server) alert(r *http.Request, c paidup.SupportCase) {
	err := s.Store.InTx(r.Context(), func(tx *store.Tx) error { return s.Outbox.OpenCase(r.Context(), tx, c) })
	if err != nil {
		s.Logger.Error("opening a support case failed", "kind", c.Kind, "err", err)
	}
}

// apiLimited answers an API client refused by a limit, in JSON.
func apiLimited(w http.ResponseWriter, retryAfter time.Duration) {
	secs := max(1, int((retryAfter+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeAPIError(w, http.StatusTooManyRequests, "too many requests without a valid key from this address; try again later")
}
