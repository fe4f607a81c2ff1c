package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/paidup/paidup"
)

// checkoutLifetime is how long a processor checkout stays payable.
const checkoutLifetime = 24 * time.Hour

type buyForm struct {
	Plan      planView
	Reference string
	Email     string
	Error     string
	Cancelled bool
}

// handleBuyForm shows a plan and asks for the email to send access to. The
// form carries a fresh checkout reference, so that submitting it twice (a
// double click, a reload) is one checkout, not two.
func (s *Server) handleBuyForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plan, ok := s.Policy.Plan(r.PathValue("plan"))
		if !ok {
			s.fail(w, r, errNoPlan)
			return
		}
		q := r.URL.Query()
		f := buyForm{Plan: s.planView(plan), Reference: paidup.NewReference()}
		if ref, ok := paidup.ParseReference(q.Get("cancelled")); ok {
			f.Cancelled = true
			f.Reference = ref // back to the same checkout if they try again
			if a, err := s.Store.CheckoutAttempt(r.Context(), ref); err == nil && a.PlanID == plan.ID {
				f.Email = a.Email
			}
		}
		if e, err := paidup.NormaliseEmail(q.Get("email")); err == nil && f.Email == "" {
			f.Email = e
		}
		s.render(w, r, http.StatusOK, "buy.html", "Buy "+plan.Name, f)
	})
}

var errNoPlan = paidup.Errorf(paidup.ENOTFOUND, "We do not sell that plan. Please choose one from the list of plans.")

// handleBuy records a checkout attempt, then asks the processor for a
// checkout carrying its reference, and sends the customer there.
func (s *Server) handleBuy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		plan, ok := s.Policy.Plan(r.PathValue("plan"))
		if !ok {
			s.fail(w, r, errNoPlan)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read. Please go back and try again."))
			return
		}
		f := buyForm{Plan: s.planView(plan), Email: r.PostForm.Get("email")}
		ref, ok := paidup.ParseReference(r.PostForm.Get("reference"))
		if !ok {
			ref = paidup.NewReference()
		}
		f.Reference = ref
		email, err := paidup.NormaliseEmail(f.Email)
		if err != nil {
			f.Error = paidup.ErrorMessage(err)
			s.render(w, r, http.StatusUnprocessableEntity, "buy.html", "Buy "+plan.Name, f)
			return
		}
		f.Email = email

		a, err := s.startAttempt(r, plan, ref, email)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if a.Status == paidup.AttemptOpen && a.CheckoutURL != "" {
			http.Redirect(w, r, a.CheckoutURL, http.StatusSeeOther) // already created: the same checkout
			return
		}
		co, err := s.Processor.CreateCheckout(ctx, paidup.CheckoutRequest{
			Reference:  a.Reference,
			Plan:       plan,
			Email:      email,
			SuccessURL: s.PublicURL + "/checkout/" + a.Reference + "?checkout={CHECKOUT_ID}",
			CancelURL:  s.PublicURL + "/buy/" + url.PathEscape(plan.ID) + "?cancelled=" + a.Reference,
			ExpiresAt:  s.Now().Add(checkoutLifetime),
		})
		if err != nil {
			s.Metrics.CheckoutsStarted.WithLabelValues("processor_error").Inc()
			s.Logger.Error("creating processor checkout failed", "ref", requestRef(r), "checkout", a.Reference, "err", err)
			f.Reference = a.Reference
			f.Error = "We could not reach the payment page just now. Nothing has been charged. Please try again in a moment."
			s.render(w, r, http.StatusServiceUnavailable, "buy.html", "Buy "+plan.Name, f)
			return
		}
		if err := s.Store.OpenCheckoutAttempt(ctx, a.Reference, co.ID, co.URL); err != nil {
			// The checkout carries the reference, so the payment can still be
			// traced; send the customer on rather than stop them.
			s.Logger.Error("recording processor checkout failed", "ref", requestRef(r), "checkout", a.Reference, "err", err)
		}
		s.Metrics.CheckoutsStarted.WithLabelValues("redirected").Inc()
		http.Redirect(w, r, co.URL, http.StatusSeeOther)
	})
}

// startAttempt records the checkout attempt for ref, or finds the one a
// previous submit of the same form recorded. A reference already used for
// another plan or email is not reused: the form was tampered with or is
// stale, and the customer gets a new attempt.
func (s *Server) startAttempt(r *http.Request, plan paidup.Plan, ref, email string) (paidup.CheckoutAttempt, error) {
	for range 3 {
		a, created, err := s.Store.CreateCheckoutAttempt(r.Context(), paidup.CheckoutAttempt{
			Reference: ref, PlanID: plan.ID, Email: email, Amount: plan.Amount, Processor: s.Processor.Name(),
		})
		if err != nil {
			return a, err
		}
		if created || (a.PlanID == plan.ID && a.Email == email) {
			return a, nil
		}
		ref = paidup.NewReference()
	}
	return paidup.CheckoutAttempt{}, errors.New("could not find an unused checkout reference")
}

func itoa(n int) string { return strconv.Itoa(n) }
