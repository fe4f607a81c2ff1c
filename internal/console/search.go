package console

import (
	"net/http"
	"strings"

	"github.com/paidup/paidup"
)

// searchPage is a search and what it found.
type searchPage struct {
	Query   string
	Results paidup.SearchResults
}

// searchSize is how many hits a search shows.
const searchSize = 20

// hitPage is the page of a search hit: its customer's, or its checkout's.
func hitPage(h paidup.SearchHit) string {
	if h.CustomerID != "" {
		return "/console/customers/" + h.CustomerID
	}
	return "/console/checkouts/" + h.Reference
}

// handleSearch finds customers by an email or part of one, a reference,
// a processor id or a case number. One hit goes straight to its page.
func (s *Server) handleSearch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := strings.TrimSpace(r.URL.Query().Get("q"))
		if len(q) > 500 {
			q = q[:500]
		}
		p := searchPage{Query: q}
		if q != "" {
			res, err := s.Store.Search(r.Context(), q, searchSize)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if len(res.Hits) == 1 && !res.More {
				http.Redirect(w, r, hitPage(res.Hits[0]), http.StatusSeeOther)
				return
			}
			p.Results = res
		}
		s.render(w, r, http.StatusOK, "search.html", "Search", p)
	})
}
