package web

import (
	"net/http"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/inbound"
)

// handleMailgun takes an answer by mail from Mailgun's routes. It answers
// 200 once the answer is taken (or was taken before, or is left to a
// person as a stranger's), 406 for mail to anything but a reply address
// paidup made, which Mailgun then does not send again, and 401 for a
// request Mailgun did not sign or signed long ago; an answer it could not
// store gets a 503, and Mailgun tries again later.
func (s *Server) handleMailgun() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Mailgun == nil || s.Threads == nil {
			http.NotFound(w, r)
			return
		}
		a, err := s.Mailgun.Read(w, r)
		if err == nil {
			var taken inbound.Taken
			taken, err = s.Threads.Take(r.Context(), a)
			addLogAttrs(r, "case", taken.Case.ID, "outcome", taken.Outcome)
		}
		switch code := paidup.ErrorCode(err); {
		case err == nil:
			w.Write([]byte("ok\n"))
		case code == paidup.EUNAUTHORIZED:
			s.refusals.warn("inbound:signature", "inbound mail webhook refused", "reason", paidup.ErrorMessage(err))
			http.Error(w, "the signature does not match, or the request is too old", http.StatusUnauthorized)
		case code == paidup.ENOTFOUND || code == paidup.EINVALID:
			addLogAttrs(r, "refused", paidup.ErrorMessage(err))
			http.Error(w, paidup.ErrorMessage(err), http.StatusNotAcceptable)
		default:
			s.Logger.Error("taking an answer by mail failed", "ref", requestRef(r), "err", err)
			http.Error(w, "could not store the message; send it again", http.StatusServiceUnavailable)
		}
	})
}
