package console

import (
	"cmp"
	"net/http"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/support"
)

// casePage is one support case: what it is about, its customer's access,
// its thread, and what to do: recover, reply from a template, resolve.
type casePage struct {
	Now      time.Time
	Case     paidup.SupportCase
	Customer paidup.Customer
	// HasCustomer: the case is a customer's; a checkout's case may not be
	// yet (paidup never recorded the payment).
	HasCustomer bool
	Access      paidup.Access
	TierName    string
	// Thread is the replies sent and the customer's answers, oldest
	// first, with the cases before and after this one in the
	// conversation (see paidup.CaseFollowUp).
	Thread     []paidup.CaseMessage
	Templates  []string
	Outcome    paidup.AuditEntry
	HasOutcome bool
	// Preview is the reply about to be sent, on the preview page.
	Preview  *support.ReplyPreview
	Template string
}

// handleCase shows a case.
func (s *Server) handleCase() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.casePage(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Outcome, p.HasOutcome = s.outcome(r, func(e paidup.AuditEntry) bool {
			return e.Target == p.Case.ID || (p.Case.Reference != "" && e.Target == p.Case.Reference) || (p.HasCustomer && e.CustomerID == p.Customer.ID)
		})
		s.render(w, r, http.StatusOK, "case.html", "Case "+p.Case.ID, p)
	})
}

func (s *Server) casePage(r *http.Request) (casePage, error) {
	ctx := r.Context()
	c, err := s.Store.Case(ctx, r.PathValue("id"))
	if err != nil {
		return casePage{}, err
	}
	p := casePage{Now: s.Now(), Case: c}
	if p.Thread, err = s.Store.Thread(ctx, c.ID); err != nil {
		return p, err
	}
	if s.Support != nil && s.Support.Replies != nil {
		p.Templates = s.Support.Replies.Names()
	}
	switch {
	case c.CustomerID != "":
		if p.Customer, err = s.Store.Customer(ctx, c.CustomerID); err != nil {
			return p, err
		}
	case c.Reference != "":
		// A checkout's case: its customer, once paidup has one.
		if p.Customer, err = s.Store.CustomerByReference(ctx, c.Reference); paidup.ErrorCode(err) == paidup.ENOTFOUND {
			return p, nil
		} else if err != nil {
			return p, err
		}
	default:
		return p, nil
	}
	p.HasCustomer = true
	grants, err := s.Store.Grants(ctx, p.Customer.ID)
	if err != nil {
		return p, err
	}
	blocks, err := s.Store.Blocks(ctx, p.Customer.ID)
	if err != nil {
		return p, err
	}
	p.Access = s.Policy.AccessAt(grants, blocks, p.Now)
	p.TierName = s.Policy.TierName(p.Access.Tier)
	return p, nil
}

// handleCaseRecover asks the processor about the case's customer (or,
// before paidup has one, its checkout) and goes back to the case.
func (s *Server) handleCaseRecover() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		c, err := s.Store.Case(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		who := cmp.Or(c.Reference, c.CustomerID)
		if who == "" {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "Case %s names no customer and no checkout to recover.", c.ID))
			return
		}
		rq := supportRequest(r)
		if _, err := s.Support.Recover(r.Context(), rq, who); err != nil {
			s.fail(w, r, err)
			return
		}
		done(w, r, "/console/cases/"+c.ID, rq.ID)
	})
}

// handleReplyPreview shows the reply a template makes for the case, as it
// will be sent, with the button that sends it.
func (s *Server) handleReplyPreview() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		p, err := s.casePage(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Template = r.PostForm.Get("template")
		pv, err := s.Support.PreviewReply(r.Context(), p.Case.ID, p.Template)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Preview = &pv
		s.render(w, r, http.StatusOK, "case.html", "Reply to case "+p.Case.ID, p)
	})
}

// handleReply sends the previewed reply and goes back to the case.
func (s *Server) handleReply() http.Handler {
	return s.handleCaseAction(func(r *http.Request, rq support.Request, caseID string) (support.Result, error) {
		return s.Support.Reply(r.Context(), rq, caseID, r.PostForm.Get("template"))
	})
}

// handleResolve resolves the case, emailing the answer to a customer who
// waits on it, and goes back to the case.
func (s *Server) handleResolve() http.Handler {
	return s.handleCaseAction(func(r *http.Request, rq support.Request, caseID string) (support.Result, error) {
		return s.Support.Resolve(r.Context(), rq, caseID, r.PostForm.Get("answer"))
	})
}

func (s *Server) handleCaseAction(act func(r *http.Request, rq support.Request, caseID string) (support.Result, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		id := r.PathValue("id")
		rq := supportRequest(r)
		if _, err := act(r, rq, id); err != nil {
			s.fail(w, r, err)
			return
		}
		done(w, r, "/console/cases/"+id, rq.ID)
	})
}
