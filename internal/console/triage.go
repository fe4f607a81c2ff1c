package console

import (
	"net/http"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/support"
)

// snoozes are how long the inbox's snooze button puts a case aside.
var snoozes = map[string]time.Duration{"1h": time.Hour, "4h": 4 * time.Hour, "24h": 24 * time.Hour}

// handleTriage takes a case, marks it waiting on the customer, or snoozes
// it, as the signed-in operator, then goes back to the inbox. Pressed
// twice, the second changes nothing.
func (s *Server) handleTriage(how string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.readForm(w, r) {
			return
		}
		var until time.Time
		if how == support.TriageSnooze {
			d, ok := snoozes[r.PostForm.Get("for")]
			if !ok {
				s.fail(w, r, paidup.Errorf(paidup.EINVALID, "Snooze for 1 hour, 4 hours or a day."))
				return
			}
			until = s.Now().Add(d)
		}
		op, _ := operatorOf(r.Context())
		if _, _, err := support.Triage(r.Context(), s.Store, how, r.PathValue("id"), op.Email, until); err != nil {
			s.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
}
