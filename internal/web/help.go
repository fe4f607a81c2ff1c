package web

import (
	"crypto/rand"
	"net/http"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/help"
	"github.com/paidup/paidup/internal/store"
)

// helpPage is the help form, and what it says once sent.
type helpPage struct {
	Sent  bool
	Error string
	// Form is what was typed, to fill the form again after an error.
	Form help.RequestArgs
	// MaxMessage is how long the message may be.
	MaxMessage int
}

// handleHelpForm shows the help form: "I was charged but have no access".
func (s *Server) handleHelpForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := helpPage{Sent: r.URL.Query().Get("sent") == "1", MaxMessage: help.MaxMessage}
		p.Form.Reference = r.URL.Query().Get("reference")
		if ref := p.Form.Reference; ref != "" && !paidup.IsReference(ref) {
			p.Form.Reference = ""
		}
		s.render(w, r, http.StatusOK, "help.html", "Charged but no access?", p)
	})
}

// handleHelp takes a help request and answers at once, the same whatever
// the address: the request is handed to a job, which repairs what it can
// and answers by email.
func (s *Server) handleHelp() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read. Please go back and try again."))
			return
		}
		f := r.PostForm
		a, err := help.RequestArgs{ID: "hr_" + rand.Text(), Email: f.Get("email"), Reference: f.Get("reference"),
			Amount: f.Get("amount"), Date: f.Get("date"), Message: f.Get("message")}.Tidy()
		if err != nil {
			s.render(w, r, http.StatusUnprocessableEntity, "help.html", "Charged but no access?",
				helpPage{Error: paidup.ErrorMessage(err), Form: a, MaxMessage: help.MaxMessage})
			return
		}
		if err := s.Store.InTx(r.Context(), func(tx *store.Tx) error { return tx.Enqueue(r.Context(), a, nil) }); err != nil {
			s.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/help?sent=1", http.StatusSeeOther)
	})
}
