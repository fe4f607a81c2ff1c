package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/support"
	"github.com/paidup/paidup/internal/view"
)

// groupSize is how many cases of a group one press acts on.
const groupSize = 200

// A bulk action is one fix for every case of a kind, which usually share a
// cause: a processor outage left payments unconfirmed (recover them all),
// a mail outage left emails undelivered (resend them all).
const (
	bulkRecover = "recover"
	bulkResend  = "resend"
)

// bulkActions are the kinds whose cases one action fixes.
var bulkActions = map[string]string{
	paidup.CaseUnconfirmed:   bulkRecover,
	paidup.CaseHelpRequest:   bulkRecover,
	paidup.CaseMissingObject: bulkRecover,
	paidup.CaseEmailFailed:   bulkResend,
}

// groupPage is a group of open cases of one kind: the preview of its bulk
// action, or, once pressed, what it did to each.
type groupPage struct {
	Now     time.Time
	Kind    string
	Action  string
	Cases   []groupCase
	More    bool
	Request string
	// Done: the action was taken; each case says what came of it.
	Done            bool
	Changed, Failed int
}

// groupCase is one case of a group: what the action does to it, and,
// once taken, what it did.
type groupCase struct {
	paidup.SupportCase
	// Will is what the action will do, in words for people; empty when it
	// can do nothing for this case.
	Will    string
	Outcome string
	Err     string
}

// handleGroup previews a group's bulk action.
func (s *Server) handleGroup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := r.PathValue("kind")
		cases, err := s.Store.OpenCasesOfKind(r.Context(), kind, groupSize+1)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p := groupPage{Now: s.Now(), Kind: kind, Action: bulkActions[kind], Request: newRequestID()}
		if len(cases) > groupSize {
			cases, p.More = cases[:groupSize], true
		}
		for _, c := range cases {
			p.Cases = append(p.Cases, groupCase{SupportCase: c, Will: willDo(p.Action, c)})
		}
		s.render(w, r, http.StatusOK, "group.html", fmt.Sprintf("%d open %s cases", len(p.Cases), kind), p)
	})
}

// willDo says what a bulk action will do for a case.
func willDo(action string, c paidup.SupportCase) string {
	switch action {
	case bulkRecover:
		if who := cmp.Or(c.Reference, c.CustomerID); who != "" {
			return "Ask the processor about " + who + " and repair what it finds."
		}
	case bulkResend:
		if id, ok := paidup.FailedEmail(c); ok && c.CustomerID != "" {
			return "Send email " + id + " again to the customer's address now, with a fresh sign-in link."
		}
	}
	return ""
}

// handleGroupAction takes a group's bulk action on the cases the preview
// showed (no others: those that came since wait for their own preview),
// each once: pressed again, a case already done says what was done.
func (s *Server) handleGroupAction() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		kind := r.PathValue("kind")
		action := bulkActions[kind]
		if action == "" {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "Cases of kind %q have no action for them all: take them one at a time.", kind))
			return
		}
		asked := r.PostForm["case"]
		if len(asked) == 0 || len(asked) > groupSize {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "Preview the action first: it acts on the cases the preview shows, at most %d.", groupSize))
			return
		}
		rq := supportRequest(r)
		if rq.ID == "" {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "Preview the action first: it acts on the cases the preview shows."))
			return
		}
		ctx := r.Context()
		p := groupPage{Now: s.Now(), Kind: kind, Action: action, Done: true}
		for _, id := range slices.Compact(slices.Sorted(slices.Values(asked))) {
			c, err := s.Store.Case(ctx, id)
			if err != nil || c.Kind != kind {
				p.Failed++
				p.Cases = append(p.Cases, groupCase{SupportCase: paidup.SupportCase{ID: id, Kind: kind}, Err: "No open case of this kind."})
				continue
			}
			gc := groupCase{SupportCase: c, Will: willDo(action, c)}
			if gc.Will == "" {
				gc.Err = "Nothing this action can do for this case: take it on its own."
				p.Failed++
				p.Cases = append(p.Cases, gc)
				continue
			}
			one := support.Request{ID: support.Key(rq.ID, c.ID), Actor: rq.Actor,
				Reason: cmp.Or(rq.Reason, fmt.Sprintf("%s for every open %s case", action, kind))}
			res, err := s.bulkOne(ctx, action, one, c)
			switch {
			case err != nil:
				gc.Err = paidup.ErrorMessage(err)
				p.Failed++
				s.Logger.Warn("a bulk action failed for one case", "ref", view.Ref(r), "case", c.ID, "action", action, "err", err)
			default:
				gc.Outcome = res.Outcome()
				if !res.Repeat {
					p.Changed++
				}
			}
			p.Cases = append(p.Cases, gc)
		}
		s.render(w, r, http.StatusOK, "group.html", fmt.Sprintf("%s: %d open %s cases", action, len(p.Cases), kind), p)
	})
}

// bulkOne takes a bulk action on one case.
func (s *Server) bulkOne(ctx context.Context, action string, rq support.Request, c paidup.SupportCase) (support.Result, error) {
	if action == bulkResend {
		id, _ := paidup.FailedEmail(c)
		return s.Support.Resend(ctx, rq, c.CustomerID, id)
	}
	return s.Support.Recover(ctx, rq, cmp.Or(c.Reference, c.CustomerID))
}
