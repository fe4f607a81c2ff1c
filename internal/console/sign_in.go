package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/operator"
	"github.com/paidup/paidup/internal/view"
)

// signInPage is the sign-in form, at either step.
type signInPage struct {
	Email  string
	Notice string
	Error  string
	// Pending, at the second step: the token of the password step.
	Pending string
}

// maxField bounds what the sign-in forms read of a field.
const maxField = 320

func (s *Server) handleSignInForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := signInPage{}
		switch r.URL.Query().Get("signed-out") {
		case "here":
			p.Notice = "You are signed out."
		case "everywhere":
			p.Notice = "You are signed out everywhere: every session of yours has ended."
		}
		s.render(w, r, http.StatusOK, "sign_in.html", "Sign in", p)
	})
}

// handleSignIn checks an email address and password, and asks for the
// second factor. Failures are answered alike for any address, and make
// the account and the client wait longer before each next try.
func (s *Server) handleSignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		email := field(r, "email")
		password := field(r, "password")
		account, client := accountKey(email), clientKey(view.ClientAddr(r, s.TrustedProxies).String())
		if wait := max(s.Delays.Wait(account, accountFree), s.Delays.Wait(client, clientFree)); wait > 0 {
			s.tooSoon(w, r, signInPage{Email: email}, wait)
			return
		}
		pending, err := s.Operators.CheckPassword(r.Context(), email, password)
		if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
			s.Delays.Fail(account)
			s.Delays.Fail(client)
			s.render(w, r, http.StatusUnauthorized, "sign_in.html", "Sign in", signInPage{Email: email, Error: paidup.ErrorMessage(err)})
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "sign_in.html", "Enter your code", signInPage{Email: email, Pending: pending})
	})
}

// handleSignInCode checks the second factor and signs the operator in.
func (s *Server) handleSignInCode() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		pending, code := field(r, "pending"), field(r, "code")
		client := clientKey(view.ClientAddr(r, s.TrustedProxies).String())
		if wait := s.Delays.Wait(client, clientFree); wait > 0 {
			s.tooSoon(w, r, signInPage{}, wait)
			return
		}
		session, op, err := s.Operators.SecondFactor(r.Context(), pending, code)
		if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
			s.Delays.Fail(client)
			p := signInPage{Error: paidup.ErrorMessage(err)}
			if op.Email != "" {
				s.Delays.Fail(accountKey(op.Email))
				p.Email = op.Email
			}
			if errors.Is(err, operator.ErrCode) {
				p.Pending = pending
			}
			s.render(w, r, http.StatusUnauthorized, "sign_in.html", "Sign in", p)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.Delays.Clear(accountKey(op.Email))
		s.Logger.Info("operator signed in", "ref", view.Ref(r), "operator", op.Email, "client", view.ClientAddr(r, s.TrustedProxies).String())
		s.startCookie(w, session)
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
}

// tooSoon answers a try that came before its wait was over, without
// looking at it.
func (s *Server) tooSoon(w http.ResponseWriter, r *http.Request, p signInPage, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	p.Error = fmt.Sprintf("Too many sign-ins have failed. Please wait %s, then try again: tries before then are not looked at.", seconds(secs))
	s.render(w, r, http.StatusTooManyRequests, "sign_in.html", "Sign in", p)
}

func seconds(n int) string {
	if n >= 120 {
		return fmt.Sprintf("%d minutes", (n+59)/60)
	}
	if n == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", n)
}

// field is a form field, trimmed and bounded.
func field(r *http.Request, name string) string {
	v := strings.TrimSpace(r.PostFormValue(name))
	if len(v) > maxField {
		v = v[:maxField]
	}
	return v
}

// accountKey is an account's key for the delays: the address as typed,
// normalised when it is one, whether or not it is an operator's.
func accountKey(email string) string {
	if e, err := paidup.NormaliseEmail(email); err == nil {
		email = e
	}
	return "account:" + strings.ToLower(email)
}

func clientKey(addr string) string { return "client:" + addr }
