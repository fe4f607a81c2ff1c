package console

import (
	"net/http"
	"time"

	"github.com/paidup/paidup"
)

// checkoutPage is what paidup knows of a checkout that has no customer
// yet: whose it is, where it stands, its timeline and open cases, and the
// button that asks the processor about it now.
type checkoutPage struct {
	Now        time.Time
	Attempt    paidup.CheckoutAttempt
	PlanName   string
	Cases      []paidup.SupportCase
	Timeline   []paidup.TimelineEntry
	Outcome    paidup.AuditEntry
	HasOutcome bool
}

// handleCheckout shows a checkout; one that has a customer now is shown
// on their page.
func (s *Server) handleCheckout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		a, err := s.Store.CheckoutAttempt(ctx, r.PathValue("ref"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if a.CustomerID != "" && r.URL.Query().Get("done") == "" {
			http.Redirect(w, r, "/console/customers/"+a.CustomerID, http.StatusSeeOther)
			return
		}
		p := checkoutPage{Now: s.Now(), Attempt: a}
		if plan, ok := s.Policy.Plan(a.PlanID); ok {
			p.PlanName = plan.Name
		}
		if p.Cases, err = s.Store.ReferenceOpenCases(ctx, a.Reference); err != nil {
			s.fail(w, r, err)
			return
		}
		if p.Timeline, err = s.Store.Timeline(ctx, "", a.Reference); err != nil {
			s.fail(w, r, err)
			return
		}
		p.Outcome, p.HasOutcome = s.outcome(r, func(e paidup.AuditEntry) bool { return e.Target == a.Reference })
		s.render(w, r, http.StatusOK, "checkout.html", "Checkout "+a.Reference, p)
	})
}

// handleCheckoutRecover asks the processor about a checkout now and
// repairs what it finds; a checkout that was paid goes on to its
// customer's page.
func (s *Server) handleCheckoutRecover() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		a, err := s.Store.CheckoutAttempt(r.Context(), r.PathValue("ref"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rq := supportRequest(r)
		if _, err := s.Support.Recover(r.Context(), rq, a.Reference); err != nil {
			s.fail(w, r, err)
			return
		}
		if a, err = s.Store.CheckoutAttempt(r.Context(), a.Reference); err == nil && a.CustomerID != "" {
			done(w, r, "/console/customers/"+a.CustomerID, rq.ID)
			return
		}
		done(w, r, "/console/checkouts/"+a.Reference, rq.ID)
	})
}
