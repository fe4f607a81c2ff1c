package sandbox

import (
	"net/http"
)

// Handler serves the Stripe API under /v1, the hosted checkout page under
// /c/pay, payment links under /b, the customer portal under /p, the
// sandbox's own controls under /_sandbox and its console at /.
func (s *Sandbox) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h apiFunc) { mux.Handle(pattern, s.api(h)) }

	api("POST /v1/customers", s.createCustomer)
	api("GET /v1/customers", s.listCustomers)
	api("GET /v1/customers/{id}", s.getCustomer)
	api("POST /v1/customers/{id}", s.updateCustomer)
	api("DELETE /v1/customers/{id}", s.deleteCustomer)

	api("POST /v1/products", s.createProduct)
	api("GET /v1/products", s.listProducts)
	api("GET /v1/products/{id}", retrieve[*Product](s, "product", "id"))
	api("POST /v1/prices", s.createPrice)
	api("GET /v1/prices", s.listPrices)
	api("GET /v1/prices/{id}", retrieve[*Price](s, "price", "id"))

	api("POST /v1/checkout/sessions", s.createCheckoutSession)
	api("GET /v1/checkout/sessions", s.listCheckoutSessions)
	api("GET /v1/checkout/sessions/{id}", retrieve[*CheckoutSession](s, "checkout.session", "session"))
	api("GET /v1/checkout/sessions/{id}/line_items", s.listLineItems)
	api("POST /v1/checkout/sessions/{id}/expire", s.expireCheckoutSession)
	api("POST /v1/test_helpers/checkout/sessions/{id}/pay", s.payCheckoutSession)

	api("POST /v1/payment_links", s.createPaymentLink)
	api("GET /v1/payment_links", s.listPaymentLinks)
	api("GET /v1/payment_links/{id}", retrieve[*PaymentLink](s, "payment_link", "payment_link"))
	api("GET /v1/payment_links/{id}/line_items", s.listPaymentLinkItems)

	api("GET /v1/payment_intents", s.listPaymentIntents)
	api("GET /v1/payment_intents/{id}", s.getPaymentIntent)
	api("GET /v1/payment_methods", s.listPaymentMethods)
	api("GET /v1/customers/{id}/payment_methods", s.listPaymentMethods)
	api("GET /v1/payment_methods/{id}", retrieve[*PaymentMethod](s, "PaymentMethod", "payment_method"))
	api("POST /v1/payment_methods/{id}/attach", s.attachPaymentMethod)
	api("POST /v1/payment_methods/{id}/detach", s.detachPaymentMethod)
	api("GET /v1/charges", s.listCharges)
	api("GET /v1/charges/{id}", retrieve[*Charge](s, "charge", "charge"))

	api("POST /v1/test_helpers/test_clocks", s.createTestClock)
	api("GET /v1/test_helpers/test_clocks", s.listTestClocks)
	api("GET /v1/test_helpers/test_clocks/{id}", s.getTestClock)
	api("DELETE /v1/test_helpers/test_clocks/{id}", s.deleteTestClock)
	api("POST /v1/test_helpers/test_clocks/{id}/advance", s.advanceTestClock)

	api("GET /v1/subscriptions", s.listSubscriptions)
	api("GET /v1/subscriptions/{id}", retrieve[*Subscription](s, "subscription", "id"))
	api("POST /v1/subscriptions/{id}", s.updateSubscription)
	api("DELETE /v1/subscriptions/{id}", s.deleteSubscription)
	api("POST /v1/subscriptions/{id}/resume", s.resumeSubscription)

	api("GET /v1/invoices", s.listInvoices)
	api("GET /v1/invoices/{id}", retrieve[*Invoice](s, "invoice", "invoice"))
	api("POST /v1/invoices/{id}/pay", s.payInvoice)

	api("GET /v1/disputes", s.listDisputes)
	api("GET /v1/disputes/{id}", retrieve[*Dispute](s, "dispute", "dispute"))
	api("POST /v1/disputes/{id}", s.updateDispute)
	api("POST /v1/disputes/{id}/close", s.closeDisputeAPI)

	api("POST /v1/billing_portal/sessions", s.createPortalSession)

	api("POST /v1/refunds", s.createRefund)
	api("GET /v1/refunds", s.listRefunds)
	api("GET /v1/refunds/{id}", retrieve[*Refund](s, "refund", "refund"))

	api("GET /v1/events", s.listEvents)
	api("GET /v1/events/{id}", s.getEvent)

	api("POST /v1/webhook_endpoints", s.createWebhookEndpoint)
	api("GET /v1/webhook_endpoints", s.listWebhookEndpoints)
	api("GET /v1/webhook_endpoints/{id}", s.getWebhookEndpoint)
	api("POST /v1/webhook_endpoints/{id}", s.updateWebhookEndpoint)
	api("DELETE /v1/webhook_endpoints/{id}", s.deleteWebhookEndpoint)

	api("GET /_sandbox/faults", s.getFaults)
	api("POST /_sandbox/faults", s.setFaults)
	api("GET /_sandbox/deliveries", s.listDeliveries)
	api("POST /_sandbox/deliveries/{id}/retry", s.retryDelivery)

	mux.HandleFunc("GET /b/{code}", s.visitPaymentLink)
	mux.HandleFunc("GET /c/pay/{id}", s.showCheckoutPage)
	mux.HandleFunc("POST /c/pay/{id}", s.submitCheckoutPage)
	mux.HandleFunc("GET /p/{id}", s.showPortal)
	mux.HandleFunc("POST /p/{id}/card", s.savePortalCard)
	mux.HandleFunc("POST /p/{id}/subscriptions/{sub}/cancel", s.setPortalCancel(true))
	mux.HandleFunc("POST /p/{id}/subscriptions/{sub}/renew", s.setPortalCancel(false))
	mux.HandleFunc("GET /{$}", s.showConsole)
	mux.HandleFunc("GET /favicon.ico", showFavicon)
	mux.HandleFunc("POST /console/clock/advance", s.advanceFromConsole)
	mux.HandleFunc("POST /console/deliveries/{id}/retry", s.retryFromConsole)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.db == nil {
			w.Write([]byte("ok\n"))
			return
		}
		if err := s.db.Ping(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})

	unrecognized := s.api(func(c *call) (any, error) {
		return nil, &apiError{status: http.StatusNotFound, body: APIErrorBody{
			Type: "invalid_request_error",
			Message: "Unrecognized request URL (" + c.r.Method + ": " + c.r.URL.Path + "). " +
				"The paidup sandbox implements the part of the Stripe API that paidup uses; see docs/sandbox.md.",
		}}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			if isAPIPath(r.URL.Path) {
				unrecognized.ServeHTTP(w, r)
				return
			}
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func isAPIPath(p string) bool {
	return len(p) >= 4 && (p[:4] == "/v1/" || p == "/v1") || len(p) >= 10 && p[:10] == "/_sandbox/"
}
