package web

import (
	"context"
	"net/http"
	"time"

	"github.com/paidup/paidup"
)

// statusView is what the checkout status page knows.
type statusView struct {
	Attempt paidup.CheckoutAttempt
	Plan    planView
	// State is what the page says: "confirming" (paid or maybe paid, not
	// yet confirmed), "unpaid" (the checkout is still open and nothing was
	// charged) or "expired" (it closed unpaid).
	State string
}

// handleCheckoutStatus is where the processor returns the customer, and the
// address they can come back to: it says what is known about the payment.
func (s *Server) handleCheckoutStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref, ok := paidup.ParseReference(r.PathValue("ref"))
		if !ok {
			s.fail(w, r, errNoCheckout)
			return
		}
		a, err := s.Store.CheckoutAttempt(r.Context(), ref)
		if paidup.ErrorCode(err) == paidup.ENOTFOUND {
			s.fail(w, r, errNoCheckout)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v := statusView{Attempt: a, State: "confirming"}
		if p, ok := s.Policy.Plan(a.PlanID); ok {
			v.Plan = s.planView(p)
		}
		if a.CheckoutID != "" {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			co, err := s.Processor.Checkout(ctx, a.CheckoutID)
			cancel()
			switch {
			case err != nil:
				// Unknown is not failed: the page keeps saying we are
				// confirming, and refreshes.
				s.Logger.Warn("reading checkout for status page failed", "ref", requestRef(r), "checkout", a.Reference, "err", err)
			case co.Paid:
				v.State = "confirming"
			case co.Status == paidup.CheckoutExpired:
				v.State = "expired"
			case co.Status == paidup.CheckoutOpen && r.URL.Query().Get("checkout") == "":
				v.State = "unpaid"
			}
		}
		s.render(w, r, http.StatusOK, "status.html", "Your purchase "+a.Reference, v)
	})
}

var errNoCheckout = paidup.Errorf(paidup.ENOTFOUND, "We have no purchase with that reference. Check the reference in your email or on your bank statement, or write to us and we will find it.")
