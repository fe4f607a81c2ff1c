package web

import "net/http"

// routes is paidup's whole route table.
func (s *Server) routes() {
	page := func(pattern, name string, h http.Handler) {
		s.mux.Handle(pattern, s.observe(name, s.pageMiddleware(h)))
	}
	page("GET /{$}", "plans", s.handlePlans())
	page("GET /buy/{plan}", "buy", s.handleBuyForm())
	page("POST /buy/{plan}", "buy_submit", s.handleBuy())
	page("GET /checkout/{ref}", "checkout_status", s.handleCheckoutStatus())

	s.mux.Handle("POST /webhooks/stripe", s.observe("webhook_stripe", s.handleStripeWebhook()))
	s.mux.Handle("GET /healthz", s.observe("healthz", s.handleHealth()))
	s.mux.Handle("GET /metrics", s.Metrics.Handler())

	page("/", "not_found", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errNotFound)
	}))
}
