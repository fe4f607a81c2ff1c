package console

import (
	"net/http"

	"github.com/paidup/paidup/internal/support"
)

// routes is the console's whole route table. Everything but the sign-in
// pages needs an operator signed in.
func (s *Server) routes() {
	s.mux.Handle("GET /console/sign-in", s.handleSignInForm())
	s.mux.Handle("POST /console/sign-in", s.handleSignIn())
	s.mux.Handle("POST /console/sign-in/code", s.handleSignInCode())
	s.mux.Handle("POST /console/sign-out", s.signedIn(s.handleSignOut(false)))
	s.mux.Handle("POST /console/sign-out-everywhere", s.signedIn(s.handleSignOut(true)))
	s.mux.Handle("GET /console/{$}", s.signedIn(s.handleCases()))
	s.mux.Handle("GET /console/customers/{id}", s.signedIn(s.handleCustomer()))
	s.mux.Handle("GET /console/search", s.signedIn(s.handleSearch()))
	s.mux.Handle("POST /console/cases/{id}/take", s.signedIn(s.handleTriage(support.TriageTake)))
	s.mux.Handle("POST /console/cases/{id}/wait", s.signedIn(s.handleTriage(support.TriageWait)))
	s.mux.Handle("POST /console/cases/{id}/snooze", s.signedIn(s.handleTriage(support.TriageSnooze)))
	s.mux.Handle("/console/", s.signedIn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errNotFound)
	})))
}
