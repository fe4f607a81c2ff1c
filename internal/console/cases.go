package console

import (
	"net/http"
	"time"

	"github.com/paidup/paidup"
)

// casesPage is the open support cases, oldest first.
type casesPage struct {
	Now   time.Time
	Cases []paidup.SupportCase
}

// handleCases shows the open support cases, each leading to its customer.
func (s *Server) handleCases() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cases, err := s.Store.OpenCases(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "cases.html", "Open cases", casesPage{Now: s.Now(), Cases: cases})
	})
}
