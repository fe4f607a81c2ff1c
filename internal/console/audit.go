package console

import (
	"net/http"
	"strconv"

	"github.com/paidup/paidup"
)

// auditPage is how many audit entries the audit page shows at a time.
const auditPage = 50

// auditLog is the audit log, newest first, a page at a time.
type auditLog struct {
	Entries []paidup.AuditEntry
	// Older is the address of the next page; empty on the last.
	Older, Newest string
}

// handleAudit shows the audit log from ?before=ENTRY.
func (s *Server) handleAudit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var before int64
		if v := r.URL.Query().Get("before"); v != "" {
			var err error
			if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
				s.fail(w, r, paidup.Errorf(paidup.EINVALID, "That is not a page of the audit log."))
				return
			}
		}
		entries, err := s.Store.AuditLog(r.Context(), "", before, auditPage+1)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p := auditLog{Entries: entries}
		if len(entries) > auditPage {
			p.Entries = entries[:auditPage]
			p.Older = "/console/audit?before=" + strconv.FormatInt(p.Entries[auditPage-1].ID, 10)
		}
		if before > 0 {
			p.Newest = "/console/audit"
		}
		s.render(w, r, http.StatusOK, "audit.html", "Audit log", p)
	})
}
