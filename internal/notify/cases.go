package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Email kinds of the support cases a customer is waiting on.
const (
	KindCaseOpened   = "case_opened"   // to the customer: a person is looking at their purchase
	KindCaseAnswered = "case_answered" // to the customer: the answer, when the case is resolved
)

// customerCases are the support cases that leave a customer's purchase
// waiting on a person: its status page promises a reply, and the customer
// is told when a person starts and what they found.
var customerCases = []string{paidup.CaseUnknownPlan, paidup.CaseAmountMismatch, paidup.CaseBlockedPayer, paidup.CaseUnconfirmed,
	paidup.CaseDuplicatePurchase}

// paidCases are those among them where the payment is known to have
// succeeded.
var paidCases = []string{paidup.CaseUnknownPlan, paidup.CaseAmountMismatch, paidup.CaseBlockedPayer, paidup.CaseDuplicatePurchase}

// tellCustomer queues, for a case a customer waits on, the email that says
// a person is looking at their purchase, once per case.
func (o *Outbox) tellCustomer(ctx context.Context, tx *store.Tx, sc paidup.SupportCase) error {
	a, ok, err := o.waitingCustomer(ctx, tx, sc)
	if err != nil || !ok {
		return err
	}
	data := map[string]string{"case": sc.ID, "kind": sc.Kind, "reference": sc.Reference, "plan": a.PlanID}
	if slices.Contains(paidCases, sc.Kind) {
		data["paid"] = "yes"
	}
	return queue(ctx, tx, store.Email{DedupeKey: "case_opened:" + sc.ID, CustomerID: sc.CustomerID, Kind: KindCaseOpened, To: a.Email, Data: data}, sc.Reference)
}

// waitingCustomer is the checkout of a case a customer waits on.
func (o *Outbox) waitingCustomer(ctx context.Context, tx *store.Tx, sc paidup.SupportCase) (paidup.CheckoutAttempt, bool, error) {
	if !slices.Contains(customerCases, sc.Kind) || sc.Reference == "" {
		return paidup.CheckoutAttempt{}, false, nil
	}
	a, err := tx.CheckoutAttempt(ctx, sc.Reference)
	if paidup.ErrorCode(err) == paidup.ENOTFOUND || (err == nil && a.Email == "") {
		return a, false, nil
	}
	return a, err == nil, err
}

// ResolveCase resolves an open support case: a person's decision, on the
// customer's timeline with who made it. If the customer waits on it, the
// answer is emailed to them, once; answer is written to the customer
// and is required then.
func (o *Outbox) ResolveCase(ctx context.Context, tx *store.Tx, id, actor, answer string) (paidup.SupportCase, error) {
	answer = strings.TrimSpace(answer)
	if strings.TrimSpace(actor) == "" {
		return paidup.SupportCase{}, paidup.Errorf(paidup.EINVALID, "Who resolves the case is required, for the record.")
	}
	sc, open, err := tx.ResolveCase(ctx, id, actor, answer)
	switch {
	case err != nil:
		return sc, err
	case !open:
		return sc, paidup.Errorf(paidup.ECONFLICT, "Support case %s is already resolved.", id)
	}
	a, waiting, err := o.waitingCustomer(ctx, tx, sc)
	if err != nil {
		return sc, err
	}
	if waiting && answer == "" {
		return sc, paidup.Errorf(paidup.EINVALID, "The customer of %s is waiting for an answer: write it (it is emailed to %s).", sc.Reference, a.Email)
	}
	summary := fmt.Sprintf("Support case resolved by %s", actor)
	if answer != "" {
		summary += ": " + answer
	}
	if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: sc.CustomerID, Reference: sc.Reference, Kind: paidup.EventSupportCase,
		Source: paidup.ByStaff, Summary: summary, Data: map[string]string{"case": sc.ID, "kind": sc.Kind, "actor": actor}}); err != nil {
		return sc, err
	}
	if !waiting {
		return sc, nil
	}
	return sc, queue(ctx, tx, store.Email{DedupeKey: "case_answered:" + sc.ID, CustomerID: sc.CustomerID, Kind: KindCaseAnswered, To: a.Email,
		Data: map[string]string{"case": sc.ID, "kind": sc.Kind, "reference": sc.Reference, "plan": a.PlanID, "answer": answer}}, sc.Reference)
}

// caseData is what the case_opened and case_answered templates get.
type caseData struct {
	Business, SupportEmail string
	Reference, PlanName    string
	// Paid: the payment is known to have gone through; otherwise paidup
	// could not confirm it with the processor.
	Paid bool
	// ReplyWithin is how soon a person answers: "one business day".
	ReplyWithin string
	// Answer is the person's answer, in their words.
	Answer     string
	AccountURL string
}

func (s *Sender) caseData(e store.Email) caseData {
	d := caseData{Business: s.Business, SupportEmail: s.SupportEmail, Reference: e.Data["reference"], PlanName: e.Data["plan"],
		Paid: e.Data["paid"] == "yes", ReplyWithin: s.ReplyWithin, Answer: e.Data["answer"], AccountURL: s.PublicURL + "/account"}
	if p, ok := s.Policy.Plan(e.Data["plan"]); ok {
		d.PlanName = p.Name
	}
	if d.PlanName == "" {
		d.PlanName = "your purchase"
	}
	if d.ReplyWithin == "" {
		d.ReplyWithin = "one business day"
	}
	return d
}
