package web

import (
	"cmp"
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

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
	stateRefunded   = "refunded"   // paid, then refunded
	stateEnded      = "ended"      // granted, then the grant was revoked
	stateOnHold     = "on_hold"    // granted, and a block holds: no access until a person lifts it
	stateUnverified = "unverified" // settled, but not by a payment through its own checkout
	stateUnsettled  = "unsettled"  // not settled yet, seen without the token: paid or not, unknown
)

// statusView is what the checkout status page knows.
type statusView struct {
	Attempt paidup.CheckoutAttempt
	Plan    planView
	State   string
	// Limited is set for a visitor with only the reference: the page
	// shows no amount, no plan, no link to the payment page, and Email
	// masked.
	Limited      bool
	Email        string
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
//
// The whole page is for whoever holds the attempt's status token (in the
// address the processor sends the buyer back to). A visitor with only the
// short reference, which people read out and which can be guessed, gets
// the state from paidup's database and nothing personal, and costs no
// call to the processor.
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
		if !mayView(r, a) {
			v := statusView{Attempt: a, State: stateUnsettled, Limited: true, Email: maskEmail(a.Email),
				SupportEmail: s.Business.SupportEmail, LinkTTL: notify.HumanDuration(s.LinkTTL)}
			s.settledState(r.Context(), &v)
			s.render(w, r, http.StatusOK, "status.html", "Your purchase "+a.Reference, v)
			return
		}
		back := r.URL.Query().Get("checkout") // coming back from paying
		state := stateConfirming
		if id := cmp.Or(a.CheckoutID, back); a.Unresolved() && id != "" {
			// A checkout paidup did not record (it stopped first) is named
			// by the address the processor sent the customer back to.
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			out, ferr := s.Checkout.FulfilAttempt(ctx, a, id, store.ByReturnPage)
			cancel()
			if ferr != nil {
				s.Logger.Warn("fulfilling from the return page failed; the reconciler will retry", "ref", requestRef(r), "checkout", a.Reference, "err", ferr)
			}
			failpoint.Inject("return.after_fulfil")
			if a, err = s.Store.CheckoutAttempt(r.Context(), ref); err != nil {
				s.fail(w, r, err)
				return
			}
			if ferr == nil && out.State == checkout.Pending && back == "" {
				state = stateUnpaid
			}
		}
		v := statusView{Attempt: a, State: state, Email: a.Email, SupportEmail: s.Business.SupportEmail, LinkTTL: notify.HumanDuration(s.LinkTTL)}
		if a.Status == paidup.AttemptCreated && back == "" {
			v.State = stateUnpaid
		}
		s.settledState(r.Context(), &v)
		if v.State == stateUnpaid && a.CheckoutURL == "" {
			v.State = stateClosed
		}
		if p, ok := s.Policy.Plan(a.PlanID); ok {
			v.Plan = s.planView(p)
		}
		s.render(w, r, http.StatusOK, "status.html", "Your purchase "+a.Reference, v)
	})
}

// mayView reports whether the visitor holds the attempt's status token
// or, for an attempt from before status tokens, its processor checkout's
// id, which its return address carries.
func mayView(r *http.Request, a paidup.CheckoutAttempt) bool {
	q := r.URL.Query()
	if a.StatusTokenHash != "" {
		return a.OpensWith(q.Get("token"))
	}
	id := q.Get("checkout")
	return a.CheckoutID != "" && subtle.ConstantTimeCompare([]byte(id), []byte(a.CheckoutID)) == 1
}

// settledState sets the state of a settled attempt's page; an unsettled
// one's stays as it is.
func (s *Server) settledState(ctx context.Context, v *statusView) {
	switch v.Attempt.Status {
	case paidup.AttemptFulfilled:
		s.describeAccess(ctx, v)
	case paidup.AttemptNeedsAttention:
		v.State = stateAttention
	case paidup.AttemptUnknown:
		v.State = stateUnknown
	case paidup.AttemptRefunded:
		v.State = stateRefunded
	case paidup.AttemptExpired, paidup.AttemptAbandoned:
		v.State = stateClosed
	}
}

// describeAccess says what a fulfilled checkout gave. "You're in" rests
// on the grant of the attempt's own payment, made through its own
// checkout, and only while that grant stands.
func (s *Server) describeAccess(ctx context.Context, v *statusView) {
	g, paymentStatus, found, err := s.Store.AttemptGrant(ctx, v.Attempt.Reference)
	switch {
	case err != nil:
		s.Logger.Warn("reading the grant for the status page failed", "checkout", v.Attempt.Reference, "err", err)
		v.State = stateConfirming
		return
	case !found:
		v.State = stateUnverified
		return
	case paymentStatus == store.PaymentRefunded:
		v.State = stateRefunded
		return
	case paymentStatus == store.PaymentDisputed || !g.Revoked.IsZero():
		v.State = stateEnded
		return
	}
	if blocks, err := s.Store.Blocks(ctx, g.CustomerID); err != nil {
		s.Logger.Warn("reading the blocks for the status page failed", "checkout", v.Attempt.Reference, "err", err)
		v.State = stateConfirming
		return
	} else if s.Policy.AccessAt(nil, blocks, s.Now()).Blocked {
		v.State = stateOnHold
		return
	}
	v.State, v.Until, v.TierName = stateDone, "for good", s.Policy.TierName(g.Tier)
	if !g.End.IsZero() {
		v.Until = "until " + g.End.Format("2 January 2006")
	}
}

// maskEmail shows an address as a•••@example.com: enough for its owner to
// recognise it, too little for anyone else to use.
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "•••"
	}
	first, _ := utf8.DecodeRuneInString(local)
	return string(first) + "•••@" + domain
}

var errNoCheckout = paidup.Errorf(paidup.ENOTFOUND, "We have no purchase with that reference. Check the reference in your email or on your bank statement, or write to us and we will find it.")
