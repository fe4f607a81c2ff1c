package web

import "net/http"

// routes is paidup's whole route table.
func (s *Server) routes() {
	page := func(pattern, name string, h http.Handler) {
		s.mux.Handle(pattern, s.observe(name, s.pageMiddleware(h)))
	}
	page("GET /{$}", "plans", s.handlePlans())
	page("GET /buy/{plan}", "buy", s.handleBuyForm())
	page("POST /buy/{plan}", "buy_submit", s.limited(s.limits.checkout, s.handleBuy()))
	page("GET /checkout/{ref}", "checkout_status", s.limited(s.limits.status, s.handleCheckoutStatus()))
	page("GET /account", "account", s.handleAccount())
	page("POST /account/link", "account_link", s.limited(s.limits.signInLink, s.handleAccountLink()))
	page("GET /account/sign-in", "sign_in_form", s.handleSignInForm())
	page("POST /account/sign-in", "sign_in", s.limited(s.limits.signIn, s.handleSignIn()))
	page("POST /account/sign-out", "sign_out", s.handleSignOut())
	page("POST /account/card", "account_card", s.limited(s.limits.account, s.handleAccountCard()))
	page("POST /account/cancel", "account_cancel", s.limited(s.limits.account, s.handleSubscriptionCancel(true)))
	page("POST /account/resume", "account_resume", s.limited(s.limits.account, s.handleSubscriptionCancel(false)))
	page("GET /help", "help_form", s.handleHelpForm())
	page("POST /help", "help", s.limited(s.limits.help, s.handleHelp()))
	page("GET /reply/{token}", "reply_form", s.handleReplyPage())
	page("POST /reply/{token}", "reply", s.crossOriginProtected(s.limited(s.limits.reply, s.handleReply())))
	page("GET /card/{token}", "card_form", s.handleCardForm())
	page("POST /card/{token}", "card", s.handleCard())

	api := func(pattern, name string, h http.Handler) {
		s.mux.Handle(pattern, s.observe(name, apiHeaders(s.apiAuth(h))))
	}
	api("GET /api/v1/access", "api_access", s.handleAPIAccessByEmail())
	api("GET /api/v1/customers/{id}/access", "api_customer_access", s.handleAPICustomerAccess())

	s.mux.Handle("POST /webhooks/stripe", s.observe("webhook_stripe", s.handleStripeWebhook()))
	s.mux.Handle("POST /inbound/mailgun", s.observe("inbound_mailgun", s.handleMailgun()))
	s.mux.Handle("GET /healthz", s.observe("healthz", s.handleHealth()))
	s.mux.Handle("GET /metrics", s.Metrics.Handler())
	s.mux.Handle("GET /favicon.ico", handleFavicon())

	page("/", "not_found", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errNotFound)
	}))
}
