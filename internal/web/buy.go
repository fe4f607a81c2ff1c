package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/limit"
)

type buyForm struct {
	Plan      planView
	Reference string
	Email     string
	Error     string
	Cancelled bool
	// Held is what the signed-in customer already holds of the plan's
	// tier, if anything; DuplicateNote what every visitor is told.
	Held          *heldView
	DuplicateNote string
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
			// The processor's way back from its payment page, which a
			// customer can also take after paying (Back, then its link):
			// the page says nothing was charged only if that is so now.
			if a, err := s.Store.CheckoutAttempt(r.Context(), ref); err == nil && a.PlanID == plan.ID {
				token, here := startedHere(r, a)
				if !s.stillUnpaid(r.Context(), r, a) {
					target := "/checkout/" + a.Reference
					if here {
						target = checkout.StatusPath(a.Reference, token)
					}
					http.Redirect(w, r, target, http.StatusSeeOther)
					return
				}
				f.Cancelled, f.Reference = true, ref // back to the same checkout if they try again
				if here {
					f.Email = a.Email // only for the browser that started it
				}
			}
		}
		if e, err := paidup.NormaliseEmail(q.Get("email")); err == nil && f.Email == "" {
			f.Email = e
		}
		if err := s.addHeld(r, &f, ""); err != nil {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "buy.html", "Buy "+plan.Name, f)
	})
}

// stillUnpaid reports whether nothing has been paid for a, asking the
// processor about an open checkout (and fulfilling it if it was paid).
// When the processor cannot say, it is not known to be unpaid.
func (s *Server) stillUnpaid(ctx context.Context, r *http.Request, a paidup.CheckoutAttempt) bool {
	switch {
	case a.Status == paidup.AttemptCreated:
		return true // no processor checkout was recorded, so none was paid through paidup's page
	case a.Status != paidup.AttemptOpen || a.CheckoutID == "":
		return false
	}
	askCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	out, err := s.Checkout.FulfilAttempt(askCtx, a, a.CheckoutID, paidup.ByReturnPage)
	cancel()
	if err != nil {
		s.Logger.Warn("asking about a checkout left unpaid failed; showing its status", "ref", requestRef(r), "checkout", a.Reference, "err", err)
		return false
	}
	if out.State != checkout.Pending {
		return false
	}
	cur, err := s.Store.CheckoutAttempt(ctx, a.Reference)
	return err == nil && cur.Unresolved()
}

var errNoPlan = paidup.Errorf(paidup.ENOTFOUND, "We do not sell that plan. Please choose one from the list of plans.")

// handleBuy records a checkout attempt, then asks the processor for a
// checkout carrying its reference, and sends the customer there.
func (s *Server) handleBuy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		email, err := s.customerEmail(r.Context(), f.Email)
		if err != nil {
			f.Error = paidup.ErrorMessage(err)
			s.render(w, r, http.StatusUnprocessableEntity, "buy.html", "Buy "+plan.Name, f)
			return
		}
		f.Email = email
		if r.PostForm.Get("confirm") != "yes" {
			// A signed-in customer buying what they hold is asked first.
			if err := s.addHeld(r, &f, email); err != nil {
				s.fail(w, r, err)
				return
			}
			if f.Held != nil {
				s.render(w, r, http.StatusOK, "buy.html", "Buy "+plan.Name, f)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 25*time.Second)
		a, err := s.Checkout.Start(ctx, plan, ref, email)
		cancel()
		s.rememberCheckout(w, a)
		switch {
		case err != nil && a.Reference != "" && errors.Is(err, limit.ErrBusy):
			// The processor budget is spent: the same form, with the same
			// reference, to send again in a minute.
			s.countLimited(r, limitBudget, s.clientAddr(r))
			f.Reference = a.Reference
			f.Error = busyBuyMessage
			w.Header().Set("Retry-After", "60")
			s.render(w, r, http.StatusTooManyRequests, "buy.html", "Buy "+plan.Name, f)
			return
		case err != nil && a.Reference != "" && paidup.ErrorCode(err) == paidup.EUNAVAILABLE:
			s.Metrics.CheckoutsStarted.WithLabelValues("processor_error").Inc()
			s.Logger.Error("creating processor checkout failed", "ref", requestRef(r), "checkout", a.Reference, "err", err)
			f.Reference = a.Reference
			f.Error = "We could not reach the payment page just now. Nothing has been charged. Please try again in a moment."
			s.render(w, r, http.StatusServiceUnavailable, "buy.html", "Buy "+plan.Name, f)
			return
		case err != nil:
			s.fail(w, r, err)
			return
		case a.Status != paidup.AttemptOpen || a.CheckoutURL == "":
			// Submitted again after it was settled: show how it stands,
			// in full to the browser that started it.
			target := "/checkout/" + a.Reference
			if token, ok := startedHere(r, a); ok {
				target = checkout.StatusPath(a.Reference, token)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		s.Metrics.CheckoutsStarted.WithLabelValues("redirected").Inc()
		http.Redirect(w, r, a.CheckoutURL, http.StatusSeeOther)
	})
}

// checkoutCookie holds, in the browser that submitted the buy form, the
// status token of the checkout it started: proof that a later visit comes
// from the same browser.
const checkoutCookie = "paidup_checkout"

// rememberCheckout gives the browser the status token of the attempt its
// submit created, if it did.
func (s *Server) rememberCheckout(w http.ResponseWriter, a paidup.CheckoutAttempt) {
	if a.StatusToken == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: checkoutCookie, Value: a.StatusToken, Path: "/", MaxAge: int((checkout.Lifetime + time.Hour).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.PublicURL, "https://"),
	})
}

// startedHere returns the status token of a that the request's browser
// holds, if it holds a's: that browser started the checkout.
func startedHere(r *http.Request, a paidup.CheckoutAttempt) (string, bool) {
	c, err := r.Cookie(checkoutCookie)
	if err != nil || !a.OpensWith(c.Value) {
		return "", false
	}
	return c.Value, true
}

func itoa(n int) string { return strconv.Itoa(n) }
