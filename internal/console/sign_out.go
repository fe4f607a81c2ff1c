package console

import "net/http"

// handleSignOut ends the request's session, or with everywhere every
// session of the operator's (a phone left in a taxi, a shared computer).
func (s *Server) handleSignOut(everywhere bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, _ := operatorOf(r.Context())
		c, _ := r.Cookie(sessionCookie) // signedIn has read it
		var err error
		if everywhere {
			err = s.Operators.SignOutEverywhere(r.Context(), op.ID)
		} else {
			err = s.Operators.SignOut(r.Context(), c.Value)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.endCookie(w)
		to := "/console/sign-in?signed-out=here"
		if everywhere {
			to = "/console/sign-in?signed-out=everywhere"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
}
