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
		before, ok := pageBefore(r)
		if !ok {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "That is not a page of the audit log."))
			return
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

// pageBefore reads a page's ?before=ENTRY, the entry its list starts
// after: zero for the first page; false when it is not an entry's number.
func pageBefore(r *http.Request) (int64, bool) {
	v := r.URL.Query().Get("before")
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0
}
