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
	"github.com/paidup/paidup/internal/standing"
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
	stateEnded      = "ended"      // granted, then the access it gave ended
	stateOnHold     = "on_hold"    // granted, and a block holds the customer's access
	stateUnverified = "unverified" // settled, but not by a payment through its own checkout
	stateUnsettled  = "unsettled"  // not settled yet, seen without the token: paid or not, unknown
	stateDuplicate  = "duplicate"  // paid for access already held; refunded, or being refunded
)

// statusView is what the checkout status page knows.
type statusView struct {
	Attempt paidup.CheckoutAttempt
	Plan    planView
	State   string
	// Limited is set for a visitor with only the reference: the page
	// shows no amount, no plan, no link to the payment page, and Email
	// masked.
	Limited bool
	Email   string
	// Standing is how the purchase stands now, once it was granted: the
	// page's sentences about access and what happens next.
	Standing     standing.Standing
	SupportEmail string
	LinkTTL      string
	// LinkSent: the confirmation with its sign-in link went out within
	// the link's lifetime, so the page may speak of it.
	LinkSent bool
	// Refunded: a duplicate purchase's refund is made (see
	// stateDuplicate); until then it is being made. HeldTier is the
	// name of the tier its address already had.
	Refunded bool
	HeldTier string
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
			s.unknownReference(w, r, r.PathValue("ref"))
			return
		}
		a, err := s.Store.CheckoutAttempt(r.Context(), ref)
		if paidup.ErrorCode(err) == paidup.ENOTFOUND {
			s.unknownReference(w, r, ref)
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
			out, ferr := s.Checkout.FulfilAttempt(ctx, a, id, paidup.ByReturnPage)
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
	case paidup.AttemptDuplicate:
		s.describeDuplicate(ctx, v)
	case paidup.AttemptExpired, paidup.AttemptAbandoned:
		v.State = stateClosed
	}
}

// describeAccess says what a fulfilled checkout gave, as it stands now.
// "You're in" rests on the grant of the attempt's own payment, made
// through its own checkout, and only while that grant gives access.
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
	}
	f, err := s.purchaseFacts(ctx, v.Attempt, g, paymentStatus)
	if err != nil {
		s.Logger.Warn("reading the purchase for the status page failed", "checkout", v.Attempt.Reference, "err", err)
		v.State = stateConfirming
		return
	}
	v.Standing = standing.Of(f)
	switch v.Standing.State {
	case standing.Refunded:
		v.State = stateRefunded
	case standing.OnHold:
		v.State = stateOnHold
	case standing.Ended:
		v.State = stateEnded
	default:
		v.State = stateDone
	}
	v.LinkSent = s.Now().Before(g.CreatedAt.Add(s.LinkTTL))
}

// purchaseFacts is what is true now of the purchase a's payment made,
// whose grant is g.
func (s *Server) purchaseFacts(ctx context.Context, a paidup.CheckoutAttempt, g paidup.Grant, paymentStatus string) (standing.Facts, error) {
	if g.PlanID == "" {
		g.PlanID = a.PlanID
	}
	f, err := checkout.PurchaseFacts(ctx, s.Store, s.Policy, checkout.PlanOf(s.Policy, g, a.Amount), g, paymentStatus, s.Now())
	f.ReplyWithin = s.Business.ReplyWithin
	return f, err
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

// unknownPage is the page for a reference paidup has no purchase for.
type unknownPage struct {
	Reference string // as asked for, for the customer to check
	Ref       string // the request's, for support
}

// unknownReference answers a reference paidup has no purchase for: where
// the customer's purchases are, and how to reach a person.
func (s *Server) unknownReference(w http.ResponseWriter, r *http.Request, asked string) {
	if r := []rune(asked); len(r) > 40 {
		asked = string(r[:40])
	}
	s.render(w, r, http.StatusNotFound, "unknown.html", "Purchase not found", unknownPage{Reference: asked, Ref: requestRef(r)})
}
