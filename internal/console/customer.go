package console

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/view"
)

// timelinePage is how many timeline entries the customer page shows at a
// time.
const timelinePage = 50

// notesShown is how many of a customer's latest staff actions the page
// reads for their notes.
const notesShown = 200

// customerPage answers at a glance whether a customer can get in now, at
// which tier, why and until when; then their open cases and timeline.
type customerPage struct {
	Customer paidup.Customer
	Now      time.Time
	Access   paidup.Access
	TierName string
	Grants   []grantView
	Blocks   []blockView
	Cases    []paidup.SupportCase
	Payments []paidup.Payment
	Emails   []store.Email
	Notes    []paidup.AuditEntry
	Tiers    []paidup.Tier
	// Outcome is what came of the action the page was sent back from.
	Outcome    paidup.AuditEntry
	HasOutcome bool
	Timeline   []paidup.TimelineEntry
	// Older is the address of the next page of the timeline; empty on
	// its last page. Newest leads back to its first page.
	Older, Newest string
}

type grantView struct {
	paidup.Grant
	TierName string
	// State is what the grant gives now: "active", "ran out", "ended", …
	State  string
	Active bool
}

type blockView struct {
	paidup.Block
	Active bool
}

// handleCustomer shows a customer. Their timeline is read a page at a
// time, newest first, from ?before=ENTRY. The page's parts are read at
// once, each on a connection of its own: on a database busy with
// purchases each read waits its turn, and the page waits for the slowest
// of them rather than for their sum.
func (s *Server) handleCustomer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		before, ok := pageBefore(r)
		if !ok {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "That is not a page of this customer's timeline."))
			return
		}
		id := r.PathValue("id")
		var (
			c        paidup.Customer
			grants   []paidup.Grant
			blocks   []paidup.Block
			cases    []paidup.SupportCase
			entries  []paidup.TimelineEntry
			payments []paidup.Payment
			emails   []store.Email
			audit    []paidup.AuditEntry
		)
		reads := []func() error{
			func() (err error) { c, err = s.Store.Customer(ctx, id); return err },
			func() (err error) { grants, err = s.Store.Grants(ctx, id); return err },
			func() (err error) { blocks, err = s.Store.Blocks(ctx, id); return err },
			func() (err error) { cases, err = s.Store.CustomerOpenCases(ctx, id); return err },
			func() (err error) { entries, err = s.Store.TimelinePage(ctx, id, before, timelinePage+1); return err },
			func() (err error) { payments, err = s.Store.Payments(ctx, id); return err },
			func() (err error) { emails, err = s.Store.Emails(ctx, id); return err },
			func() (err error) { audit, err = s.Store.AuditLog(ctx, id, 0, notesShown); return err },
		}
		errs := make([]error, len(reads))
		var wg sync.WaitGroup
		for i, read := range reads {
			wg.Go(func() { errs[i] = read() })
		}
		wg.Wait()
		// The customer's own read first: a customer who does not exist is
		// not found, whatever else failed.
		for _, err := range errs {
			if err != nil {
				s.fail(w, r, err)
				return
			}
		}
		now := s.Now()
		p := customerPage{Customer: c, Now: now, Access: s.Policy.AccessAt(grants, blocks, now), Cases: cases, Timeline: entries,
			Payments: payments, Emails: emails, Tiers: s.Policy.Tiers}
		for _, e := range audit {
			if e.Action == paidup.ActionNote {
				p.Notes = append(p.Notes, e)
			}
		}
		p.Outcome, p.HasOutcome = s.outcome(r, func(e paidup.AuditEntry) bool { return e.CustomerID == c.ID })
		p.TierName = s.Policy.TierName(p.Access.Tier)
		if len(entries) > timelinePage {
			p.Timeline = entries[:timelinePage]
			p.Older = "/console/customers/" + c.ID + "?before=" + strconv.FormatInt(p.Timeline[timelinePage-1].ID, 10) + "#timeline"
		}
		if before > 0 {
			p.Newest = "/console/customers/" + c.ID + "#timeline"
		}
		for _, g := range grants {
			p.Grants = append(p.Grants, grantView{Grant: g, TierName: s.Policy.TierName(g.Tier), State: grantState(g, p.Access, now), Active: g.ActiveAt(now)})
		}
		for _, b := range blocks {
			p.Blocks = append(p.Blocks, blockView{Block: b, Active: b.ActiveAt(now)})
		}
		s.render(w, r, http.StatusOK, "customer.html", c.Email, p)
	})
}

// grantState says what a grant gives at t.
func grantState(g paidup.Grant, a paidup.Access, t time.Time) string {
	switch {
	case !g.Revoked.IsZero() && !t.Before(g.Revoked):
		return "ended " + when(g.Revoked)
	case !g.End.IsZero() && !t.Before(g.End):
		return "ran out " + when(g.End)
	case t.Before(g.Start):
		return "starts " + when(g.Start)
	case a.Blocked:
		return "suspended by a block"
	}
	return "active"
}

// Refunded is how much of a payment is refunded, in its currency.
func (customerPage) Refunded(p paidup.Payment) paidup.Money {
	return paidup.Money{Amount: p.AmountRefunded, Currency: p.Amount.Currency}
}

// handleAccountView shows a customer's own account page as they see it
// now, read only.
func (s *Server) handleAccountView() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.AccountView == nil {
			s.fail(w, r, errNotFound)
			return
		}
		c, err := s.Store.Customer(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page, err := s.AccountView(r.Context(), c.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		view.Write(w, http.StatusOK, page)
	})
}
