package console

import (
	"net/http"
	"time"

	"github.com/paidup/paidup"
)

// sessionCookie holds an operator's session token. The __Host- prefix
// makes the browser keep it to this host, over https, for every path, set
// by this host alone; it is never the customers' cookie (paidup_session),
// and the two tables behind them never hold each other's tokens.
const sessionCookie = "__Host-paidup_console"

var errNotFound = paidup.Errorf(paidup.ENOTFOUND, "There is nothing at this address in the console.")

// signedIn serves next to a signed-in operator; anyone else is sent to
// the sign-in page.
func (s *Server) signedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || len(c.Value) > 100 {
			s.toSignIn(w, r, false)
			return
		}
		op, err := s.Operators.Session(r.Context(), c.Value)
		if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
			s.toSignIn(w, r, true)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(withOperator(r.Context(), op)))
	})
}

// toSignIn sends the browser to the sign-in page, forgetting a cookie
// whose session has ended.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request, ended bool) {
	if ended {
		s.endCookie(w)
	}
	http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
}

// startCookie gives the browser a session's cookie.
func (s *Server) startCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.Operators.Lifetime / time.Second)})
}

func (s *Server) endCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}
