package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/paidup/paidup"
)

const sessionCookie = "paidup_session"

type accountPage struct {
	Signedin bool
	Error    string
	// Notice says what a customer's own action just did, as the
	// processor's word (re-read) has it.
	Notice   string
	Email    string
	Access   paidup.Access
	TierName string
	// Hold says why and how the access is held, when it is.
	Hold *holdView
	// Subscriptions are the customer's, latest first, with what they may
	// do about each.
	Subscriptions []subscriptionView
	Purchases     []purchaseView
	Token         string // on the sign-in confirmation page
	// CardUpdate: the customer has a subscription, and a card on file
	// they can update.
	CardUpdate bool
	// SignIn is what the sign-in form says of the links asked for.
	SignIn signInNotice
	// ReadOnly: the page is support's view of it; its buttons do nothing.
	ReadOnly bool
}

// AccountView is a customer's account page as they see it now, for
// support to read: its buttons are disabled.
func (s *Server) AccountView(ctx context.Context, customerID string) (string, error) {
	p, err := s.accountState(ctx, customerID)
	if err != nil {
		return "", err
	}
	p.ReadOnly = true
	var b strings.Builder
	if err := executePage(&b, "account.html", page{Title: "Your account", Business: s.Business, Data: p}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// handleAccount shows a signed-in customer their access, subscriptions
// and payments, or asks for their email to send a sign-in link.
func (s *Server) handleAccount() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		customerID, ok := s.signedIn(r)
		if !ok {
			s.render(w, r, http.StatusOK, "account.html", "Your account", accountPage{SignIn: signInNoticeOf(r.URL.Query())})
			return
		}
		p, err := s.accountState(r.Context(), customerID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Notice = doneNotice(r.URL.Query().Get("done"), p.Subscriptions)
		s.render(w, r, http.StatusOK, "account.html", "Your account", p)
	})
}

// handleAccountLink asks for a sign-in link to be emailed to the address,
// if it is a customer's. The answer is the same, and takes the same time,
// whether or not it is: the page only checks the address and hands it
// over; looking the customer up and queueing the email happen afterwards,
// off the request (notify.SignInRequests).
func (s *Server) handleAccountLink() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read. Please go back and try again."))
			return
		}
		email, err := s.customerEmail(r.Context(), r.PostForm.Get("email"))
		if err != nil {
			s.render(w, r, http.StatusUnprocessableEntity, "account.html", "Your account", accountPage{Error: paidup.ErrorMessage(err), Email: r.PostForm.Get("email")})
			return
		}
		// Answer first, whole (an empty body of known length, so the
		// client has it all once it is flushed), then hand the address
		// over: the work it causes cannot slow this answer down. The
		// answer says when the link was asked for, or that the address
		// has had its links for now: the same for any address, customer
		// or not.
		// The windows are the business clock's, as the emails' are; the
		// times the page names are the wall clock's, as the customer's
		// are (the two differ in sandbox mode after the clock is moved).
		now, wall := s.Now(), time.Now()
		sent, next, ok := s.signInPace.ask(email, now)
		w.Header().Set("Content-Length", "0")
		http.Redirect(w, r, signInAnswer(wall.Add(sent.Sub(now)), wall.Add(next.Sub(now)), ok), http.StatusSeeOther)
		http.NewResponseController(w).Flush()
		if !ok {
			return
		}
		if !s.SignIns.Ask(email) {
			// The same answer: the customer asks again if no link comes.
			s.Metrics.SignInsDropped.Inc()
			s.refusals.warn("sign_in_dropped", "too many sign-in link requests waiting; one was dropped")
		}
	})
}

// handleSignInForm asks the customer to confirm signing in. The link itself
// does not sign in: mail scanners that open links would spend it.
func (s *Server) handleSignInForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if token == "" || len(token) > 100 {
			s.render(w, r, http.StatusBadRequest, "account.html", "Your account", accountPage{Error: "This sign-in link is incomplete. Ask for a new one below."})
			return
		}
		s.render(w, r, http.StatusOK, "sign_in.html", "Sign in", accountPage{Token: token})
	})
}

// handleSignIn spends a sign-in token and opens a session.
func (s *Server) handleSignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read. Please go back and try again."))
			return
		}
		session, _, err := s.Store.UseSignInLink(r.Context(), r.PostForm.Get("token"), s.SessionTTL)
		if err != nil {
			status := http.StatusInternalServerError
			if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
				status = http.StatusUnauthorized
			}
			s.render(w, r, status, "account.html", "Your account", accountPage{Error: paidup.ErrorMessage(err)})
			return
		}
		s.startSession(w, session)
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
}

// startSession gives the browser an account session's cookie.
func (s *Server) startSession(w http.ResponseWriter, session string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(s.PublicURL, "https://"), Expires: time.Now().Add(s.SessionTTL),
	})
}

func (s *Server) handleSignOut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(sessionCookie); err == nil {
			if err := s.Store.EndSession(r.Context(), c.Value); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
}

// signedIn returns the customer of the request's session.
func (s *Server) signedIn(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > 100 {
		return "", false
	}
	id, err := s.Store.SessionCustomer(r.Context(), c.Value)
	return id, err == nil
}
