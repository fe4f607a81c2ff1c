package console

import (
	"net/http"
	"time"

	"github.com/paidup/paidup"
)

// casesPage is the inbox: the open cases in the order to take them, and
// the kinds with several open, which usually share a cause.
type casesPage struct {
	Now    time.Time
	Cases  []paidup.SupportCase
	Groups []paidup.CaseGroup
	// More: more cases are open than the page shows.
	More bool
	// Bulk is the action that fixes every case of a kind, where there is
	// one.
	Bulk map[string]string
}

// inboxSize is how many cases the inbox shows.
const inboxSize = 200

// handleCases shows the inbox, each case leading to its customer.
func (s *Server) handleCases() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := s.Now()
		cases, err := s.Store.Inbox(r.Context(), now, inboxSize+1)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		groups, err := s.Store.CaseGroups(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p := casesPage{Now: now, Cases: cases, Groups: groups, Bulk: bulkActions}
		if len(cases) > inboxSize {
			p.Cases, p.More = cases[:inboxSize], true
		}
		s.render(w, r, http.StatusOK, "cases.html", "Open cases", p)
	})
}
