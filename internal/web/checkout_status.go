package web

import (
	"context"
	"net/http"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// Status page states.
const (
	stateConfirming = "confirming" // paid or maybe paid; not confirmed yet
	stateDone       = "done"       // access granted
	stateUnpaid     = "unpaid"     // the payment page is open; nothing charged
	stateClosed     = "closed"     // closed unpaid; nothing charged
	stateAttention  = "attention"  // paid; a person must settle it
	stateUnknown    = "unknown"    // the reconciler gave up asking
	stateRefunded   = "refunded"   // paid, then refunded before access
)

// statusView is what the checkout status page knows.
type statusView struct {
	Attempt      paidup.CheckoutAttempt
	Plan         planView
	State        string
	TierName     string
	Until        string // "until 23 November 2027" or "for good"
	SupportEmail string
	LinkTTL      string
}

// handleCheckoutStatus is where the processor returns the customer, and the
// address they can come back to: it says what is known. On the way back
// from paying it fulfils the checkout itself, without waiting for the
// webhook; if the processor cannot be asked, the page says it is
// confirming, never that the payment failed.
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
		returning := r.URL.Query().Get("checkout") != ""
		state := stateConfirming
		if a.Unresolved() && a.CheckoutID != "" {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			out, ferr := s.Checkout.Fulfil(ctx, a.CheckoutID, store.ByReturnPage)
			cancel()
			if ferr != nil {
				s.Logger.Warn("fulfilling from the return page failed; the reconciler will retry", "ref", requestRef(r), "checkout", a.Reference, "err", ferr)
			}
			failpoint.Inject("return.after_fulfil")
			if a, err = s.Store.CheckoutAttempt(r.Context(), ref); err != nil {
				s.fail(w, r, err)
				return
			}
			if ferr == nil && out.State == checkout.Pending && !returning {
				state = stateUnpaid
			}
		}
		v := statusView{Attempt: a, State: state, SupportEmail: s.Business.SupportEmail, LinkTTL: notify.HumanDuration(s.LinkTTL)}
		switch a.Status {
		case paidup.AttemptFulfilled:
			v.State = stateDone
			s.describeAccess(r.Context(), &v)
		case paidup.AttemptNeedsAttention:
			v.State = stateAttention
		case paidup.AttemptUnknown:
			v.State = stateUnknown
		case paidup.AttemptRefunded:
			v.State = stateRefunded
		case paidup.AttemptExpired, paidup.AttemptAbandoned:
			v.State = stateClosed
		case paidup.AttemptCreated:
			v.State = stateUnpaid
			if returning {
				// The processor sent the customer back from paying, so it
				// has a checkout for this attempt that paidup could not
				// record (the database failed in between). Its webhook or
				// the reconciler's sweep settles it; until then, the
				// customer may well have paid.
				v.State = stateConfirming
			}
		}
		if v.State == stateUnpaid && a.CheckoutURL == "" {
			v.State = stateClosed
		}
		if p, ok := s.Policy.Plan(a.PlanID); ok {
			v.Plan = s.planView(p)
		}
		s.render(w, r, http.StatusOK, "status.html", "Your purchase "+a.Reference, v)
	})
}

// describeAccess fills in what a fulfilled checkout gave.
func (s *Server) describeAccess(ctx context.Context, v *statusView) {
	v.Until = "for good"
	grants, err := s.Store.Grants(ctx, v.Attempt.CustomerID)
	if err != nil {
		s.Logger.Warn("reading grants for the status page failed", "err", err)
		return
	}
	for _, g := range grants {
		if g.SourceRef != s.Checkout.Processor.Name()+":"+v.Attempt.PaymentID {
			continue
		}
		v.TierName = g.Tier
		if t, ok := s.Policy.Tier(g.Tier); ok {
			v.TierName = t.Name
		}
		if !g.End.IsZero() {
			v.Until = "until " + g.End.Format("2 January 2006")
		}
	}
}

var errNoCheckout = paidup.Errorf(paidup.ENOTFOUND, "We have no purchase with that reference. Check the reference in your email or on your bank statement, or write to us and we will find it.")
