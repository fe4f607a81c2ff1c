package support

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/store"
)

// ReplyPreview is a reply as it would be sent: to whom, and its words.
type ReplyPreview struct {
	Case  paidup.SupportCase
	To    string
	Reply replies.Reply
}

// Text is the reply's plain text as the customer reads it, the sign-in
// link (made when it is sent) written as a placeholder.
func (p ReplyPreview) Text() string {
	return strings.ReplaceAll(p.Reply.Text, replies.SignInPlaceholder, "[a sign-in link, made when it is sent]")
}

// PreviewReply renders the reply template named for case caseID, with
// the case's fields, and sends nothing.
func (s *Service) PreviewReply(ctx context.Context, caseID, template string) (ReplyPreview, error) {
	var pv ReplyPreview
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		pv, err = s.renderReply(ctx, tx, caseID, template)
		return err
	})
	return pv, err
}

// Reply emails a case's customer the reply template named, with the
// case's fields, and marks the case waiting on them; the case is taken by
// whoever replies unless someone has it. The same words sent to a case
// before are not sent again.
func (s *Service) Reply(ctx context.Context, r Request, caseID, template string) (Result, error) {
	if err := r.check(paidup.ActionReply); err != nil {
		return Result{}, err
	}
	c, err := s.Store.Case(ctx, caseID)
	if err != nil {
		return Result{}, err
	}
	return s.act(ctx, r, paidup.ActionReply, c.CustomerID, func(tx *store.Tx) (change, error) {
		pv, err := s.renderReply(ctx, tx, caseID, template)
		if err != nil {
			return change{}, err
		}
		c := pv.Case
		sent, err := s.Notify.QueueReply(ctx, tx, notify.Reply{CaseID: c.ID, CustomerID: c.CustomerID, To: pv.To, Reference: c.Reference, Reply: pv.Reply,
			Actor: r.Actor})
		if err != nil {
			return change{}, err
		}
		ch := change{target: c.ID, data: map[string]string{"template": template, "subject": pv.Reply.Subject}}
		if !sent {
			ch.outcome = fmt.Sprintf("This reply (%s) was sent to %s before; nothing was sent again.", template, pv.To)
			return ch, nil
		}
		if _, _, err := tx.TriageCase(ctx, c.ID, cmp.Or(c.Assignee, r.Actor), c.SnoozedUntil, true); err != nil {
			return change{}, err
		}
		if err := tx.Append(ctx, staffEntry(r, c.CustomerID, c.Reference, paidup.EventSupportCase,
			fmt.Sprintf("Replied to %s by %s (%s): %s", pv.To, r.Actor, template, pv.Reply.Subject),
			map[string]string{"case": c.ID, "template": template})); err != nil {
			return change{}, err
		}
		ch.outcome = fmt.Sprintf("Queued the reply %q to %s; the case now waits on them.", pv.Reply.Subject, pv.To)
		return ch, nil
	})
}

// Resolve resolves an open case: a person's decision, on the customer's
// timeline. A customer who waits on the case (their purchase does) is
// emailed the answer, which is required then.
func (s *Service) Resolve(ctx context.Context, r Request, caseID, answer string) (Result, error) {
	if err := r.check(paidup.ActionResolve); err != nil {
		return Result{}, err
	}
	answer = strings.TrimSpace(answer)
	if len(answer) > maxNote || !printable(answer, true) {
		return Result{}, paidup.Errorf(paidup.EINVALID, "The answer must be at most %d characters of text.", maxNote)
	}
	c, err := s.Store.Case(ctx, caseID)
	if err != nil {
		return Result{}, err
	}
	return s.act(ctx, r, paidup.ActionResolve, c.CustomerID, func(tx *store.Tx) (change, error) {
		sc, err := s.Notify.ResolveCase(ctx, tx, caseID, r.Actor, answer)
		if err != nil {
			return change{}, err
		}
		failpoint.Inject("case.before_commit")
		what := sc.ID + " (" + sc.Kind
		if sc.Reference != "" {
			what += ", " + sc.Reference
		}
		return change{target: sc.ID, outcome: "Resolved " + what + ").", data: map[string]string{"answer": answer}}, nil
	})
}

// renderReply renders a reply to case caseID in tx.
func (s *Service) renderReply(ctx context.Context, tx *store.Tx, caseID, template string) (ReplyPreview, error) {
	if s.Replies == nil {
		return ReplyPreview{}, paidup.Errorf(paidup.EUNAVAILABLE, "This paidup has no reply templates loaded.")
	}
	c, err := tx.Case(ctx, caseID)
	if err != nil {
		return ReplyPreview{}, err
	}
	f, err := s.caseFields(ctx, tx, &c)
	if err != nil {
		return ReplyPreview{}, err
	}
	if f.CustomerEmail == "" {
		return ReplyPreview{}, paidup.Errorf(paidup.EINVALID, "Support case %s has no customer or checkout with an address to reply to.", caseID)
	}
	rp, err := s.Replies.Render(template, f)
	if err != nil {
		return ReplyPreview{}, paidup.Errorf(paidup.EINVALID, "%v", err)
	}
	return ReplyPreview{Case: c, To: f.CustomerEmail, Reply: rp}, nil
}

// caseFields are the reply template's fields for case c: its customer
// (or, before there is one, its checkout's address), reference and money
// at stake, what it bought, and their access now. A checkout's case
// becomes its customer's once the checkout has one: c is given them.
func (s *Service) caseFields(ctx context.Context, tx *store.Tx, c *paidup.SupportCase) (replies.Fields, error) {
	f := s.ReplyFields
	f.Reference, f.Case = c.Reference, c.ID
	if c.Stake.Amount > 0 {
		f.Amount = c.Stake.String()
	}
	if c.Reference != "" {
		if a, err := tx.CheckoutAttempt(ctx, c.Reference); err == nil {
			f.CustomerEmail = a.Email // a checkout not yet a customer's
			if c.CustomerID == "" {
				c.CustomerID = a.CustomerID
			}
			if p, ok := s.Policy.Plan(a.PlanID); ok {
				f.Plan, f.Tier = p.Name, s.Policy.TierName(p.Tier)
			}
		}
	}
	if email, ok := paidup.HelpRequestEmail(*c); ok && f.CustomerEmail == "" {
		f.CustomerEmail = email // who wrote in, whom paidup may know nothing else of
	}
	if c.CustomerID == "" {
		return f, nil
	}
	cu, err := tx.Customer(ctx, c.CustomerID)
	if err != nil {
		return f, err
	}
	f.CustomerEmail = cu.Email
	grants, err := tx.Grants(ctx, c.CustomerID)
	if err != nil {
		return f, err
	}
	blocks, err := tx.Blocks(ctx, c.CustomerID)
	if err != nil {
		return f, err
	}
	if a := s.Policy.AccessAt(grants, blocks, tx.Now()); a.Active {
		f.Tier = s.Policy.TierName(a.Tier)
		if !a.Until.IsZero() {
			f.Until = standing.Day(a.Until)
		}
	}
	return f, nil
}
