package notify

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Lifecycle email kinds: what a subscriber is told over their
// subscription's life.
const (
	KindPaymentFailed        = "payment_failed"         // day 0: a renewal did not go through
	KindPaymentReminder      = "payment_reminder"       // a friendly reminder during the grace
	KindPaymentFinalReminder = "payment_final_reminder" // the grace is about to end
	KindGraceEnded           = "grace_ended"            // the grace ended; the tier with it
	KindWelcomeBack          = "welcome_back"           // a late payment went through
	KindDisputeAlert         = "dispute_alert"          // to on-call: a chargeback
	KindCancellation         = "cancellation_confirmed" // a subscription set to end with its paid period
	KindResumed              = "subscription_resumed"   // that cancellation undone: it renews again
	KindRenewalReceipt       = "renewal_receipt"        // a renewal was paid (off unless configured)
	KindSubscriptionEnded    = "subscription_ended"     // a subscription ended before its period, not by the customer's cancellation
)

// CaseDispute is the support case a chargeback opens.
const CaseDispute = "dispute"

var lifecycleKinds = []string{KindPaymentFailed, KindPaymentReminder, KindPaymentFinalReminder, KindGraceEnded, KindWelcomeBack,
	KindCancellation, KindResumed, KindRenewalReceipt, KindSubscriptionEnded}

func isLifecycle(kind string) bool {
	for _, k := range lifecycleKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// carriesCardLink reports whether a kind's email links to the page where
// the customer updates their card.
func carriesCardLink(kind string) bool {
	return kind == KindPaymentFailed || kind == KindPaymentReminder || kind == KindPaymentFinalReminder || kind == KindGraceEnded
}

// LifecycleEmail is an email about a customer's subscription.
type LifecycleEmail struct {
	Kind string // one of lifecycleKinds
	// Template overrides Kind's template (a reminder's configured template
	// name); empty: Kind.
	Template   string
	Key        string // once per Key, e.g. "reminder:stripe:in_123:1"
	CustomerID string
	To         string
	PlanID     string
	Tier       string       // the subscription's tier
	Amount     paidup.Money // the renewal that failed or was paid
	GraceEnds  time.Time    // payment_failed/reminders
	// Until is the paid period's end: welcome_back, renewal_receipt,
	// cancellation_confirmed (access until then), subscription_resumed
	// (it renews then).
	Until time.Time
	// Ended: subscription_ended, when the subscription ended.
	Ended time.Time
	// Renews: renewal_receipt, the subscription renews at Until (it was
	// not cancelled).
	Renews     bool
	Keeps      string    // grace_ended, cancellation_confirmed: the tier they keep after, "" if none
	KeepsUntil time.Time // grace_ended, cancellation_confirmed: when the kept tier ends; zero: for good
	// Processor and ProcessorCustomerID are whose card the email's link
	// updates; without them the email links to the account page.
	Processor, ProcessorCustomerID string
	Reference                      string // a reference for support, e.g. the invoice id
}

// QueueLifecycle queues a lifecycle email in the caller's transaction, once
// per Key. The card link it carries is made when it is sent.
func (o *Outbox) QueueLifecycle(ctx context.Context, tx *store.Tx, e LifecycleEmail) error {
	switch {
	case !isLifecycle(e.Kind):
		return fmt.Errorf("queueing lifecycle email: %q is not a lifecycle email kind", e.Kind)
	case e.Key == "" || e.CustomerID == "" || e.To == "":
		return fmt.Errorf("queueing %s email: Key, CustomerID and To are required", e.Kind)
	case e.Template != "" && o.Templates != nil && !o.Templates.Has(e.Template):
		return fmt.Errorf("queueing %s email: no email template named %q", e.Kind, e.Template)
	}
	data := map[string]string{
		"plan": e.PlanID, "tier": e.Tier, "keeps": e.Keeps, "reference": e.Reference,
		"processor": e.Processor, "processor_customer": e.ProcessorCustomerID,
	}
	if e.Template != "" && e.Template != e.Kind {
		data["template"] = e.Template
	}
	if e.Amount.Currency != "" {
		data["amount"], data["currency"] = strconv.FormatInt(e.Amount.Amount, 10), e.Amount.Currency
	}
	if !e.GraceEnds.IsZero() {
		data["grace_ends"] = e.GraceEnds.UTC().Format(time.RFC3339)
	}
	if !e.Until.IsZero() {
		data["until"] = e.Until.UTC().Format(time.RFC3339)
	}
	if !e.Ended.IsZero() {
		data["ended"] = e.Ended.UTC().Format(time.RFC3339)
	}
	if !e.KeepsUntil.IsZero() && e.Keeps != "" {
		data["keeps_until"] = e.KeepsUntil.UTC().Format(time.RFC3339)
	}
	if e.Renews {
		data["renews"] = "true"
	}
	for k, v := range data {
		if v == "" {
			delete(data, k)
		}
	}
	return queue(ctx, tx, store.Email{DedupeKey: "lifecycle:" + e.Key, CustomerID: e.CustomerID, Kind: e.Kind, To: e.To, Data: data}, e.Reference)
}

// DisputeAlert tells on-call about a chargeback, after which the grants
// the chargeback policy ends were ended, the rest suspended, and a block
// put on the customer.
type DisputeAlert struct {
	CustomerID string
	Email      string // the customer's
	Processor  string // e.g. "stripe"
	Dispute    paidup.ProcessorDispute
	Revoked    int      // grants ended
	Suspended  []string // the tiers the block suspends, back when it is lifted
	// Reference is paidup's reference of the dispute (PU-…): the one the
	// customer is told, which finds them (paidup block show --customer).
	Reference string
	Purchase  string // paidup's checkout reference of the disputed payment, if any
}

// AlertDispute opens a support case for a chargeback, once per dispute,
// puts it on the customer's timeline and emails everyone on call how to
// lift the block.
func (o *Outbox) AlertDispute(ctx context.Context, tx *store.Tx, d DisputeAlert) error {
	if d.Dispute.ID == "" || d.CustomerID == "" {
		return fmt.Errorf("alerting on-call of a dispute: the dispute and customer ids are required")
	}
	who := d.Email
	if who == "" {
		who = d.CustomerID
	}
	c := paidup.SupportCase{
		DedupeKey: "dispute:" + d.Processor + ":" + d.Dispute.ID, CustomerID: d.CustomerID, Reference: d.Reference,
		PaymentID: d.Dispute.PaymentID, Kind: CaseDispute,
		Summary: fmt.Sprintf("Chargeback of %s by %s (%s): blocked; %s ended, %s suspended", d.Dispute.Amount, who,
			humanReason(d.Dispute.Reason), grants(d.Revoked), grants(len(d.Suspended))),
	}
	return o.openCase(ctx, tx, c, KindDisputeAlert, func(sc paidup.SupportCase) map[string]string {
		return map[string]string{
			"case": sc.ID, "kind": c.Kind, "summary": c.Summary, "reference": d.Reference, "purchase": d.Purchase, "payment": d.Dispute.PaymentID,
			"opened": sc.CreatedAt.Format(time.RFC3339), "customer_email": d.Email, "processor": d.Processor,
			"dispute": d.Dispute.ID, "charge": d.Dispute.ChargeID, "amount": strconv.FormatInt(d.Dispute.Amount.Amount, 10),
			"currency": d.Dispute.Amount.Currency, "reason": d.Dispute.Reason, "status": d.Dispute.Status,
			"revoked": strconv.Itoa(d.Revoked), "suspended": strings.Join(d.Suspended, ","),
		}
	})
}

// grants counts grants for people: "1 grant", "2 grants".
func grants(n int) string {
	if n == 1 {
		return "1 grant"
	}
	return strconv.Itoa(n) + " grants"
}

// humanReason writes a processor's dispute reason for people:
// "product_not_received" becomes "product not received".
func humanReason(r string) string {
	if r == "" {
		return "no reason given"
	}
	return strings.ReplaceAll(r, "_", " ")
}

// lifecycleData is what lifecycle templates get.
type lifecycleData struct {
	Business, SupportEmail string
	PlanName, TierName     string
	Amount                 string // "$9.00"
	GraceEnds              string // "30 November 2026"; empty if none
	Until                  string // the paid period's end: "23 December 2026"; empty if none
	Ended                  string // subscription_ended: the day it ended
	Renews                 bool   // renewal_receipt: the subscription renews at Until
	Keeps                  string // grace_ended, cancellation_confirmed: the name of the tier kept; empty if none
	KeepsUntil             string // grace_ended, cancellation_confirmed: when the kept tier ends; empty: for good
	// CardURL is where the customer updates their card: the emailed card
	// link, or the account page when there is none.
	CardURL     string
	CardLinkTTL string // until when the card link works: "7 December 2026"; empty without one
	AccountURL  string
	ShopURL     string
	Reference   string
}

func (s *Sender) lifecycle(e store.Email, cardURL string, cardExpires time.Time) lifecycleData {
	d := lifecycleData{
		Business: s.Business, SupportEmail: s.SupportEmail, PlanName: e.Data["plan"], TierName: s.Policy.TierName(e.Data["tier"]),
		Keeps: s.Policy.TierName(e.Data["keeps"]), CardURL: cardURL, AccountURL: s.PublicURL + "/account", ShopURL: s.PublicURL + "/",
		Reference: e.Data["reference"], Renews: e.Data["renews"] == "true",
	}
	if !paidup.IsReference(d.Reference) {
		// An email queued before invoices had references of paidup's
		// named the processor's invoice: no processor id reaches a
		// customer.
		d.Reference = ""
	}
	if p, ok := s.Policy.Plan(e.Data["plan"]); ok {
		d.PlanName = p.Name
	}
	if d.PlanName == "" {
		d.PlanName = "your subscription"
	}
	if d.TierName == "" {
		d.TierName = d.PlanName
	}
	if amount, err := strconv.ParseInt(e.Data["amount"], 10, 64); err == nil && e.Data["currency"] != "" {
		d.Amount = paidup.Money{Amount: amount, Currency: e.Data["currency"]}.String()
	}
	d.GraceEnds = day(e.Data["grace_ends"])
	d.Until = day(e.Data["until"])
	d.Ended = day(e.Data["ended"])
	d.KeepsUntil = day(e.Data["keeps_until"])
	if cardURL == "" {
		d.CardURL = d.AccountURL
	} else {
		d.CardLinkTTL = cardExpires.UTC().Format("2 January 2006")
	}
	return d
}

// day writes an RFC 3339 time as a date for people; "" stays "".
func day(rfc3339 string) string {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return ""
	}
	return t.UTC().Format("2 January 2006")
}

// disputeData is what the dispute_alert template gets.
type disputeData struct {
	CaseID, Summary, Opened        string
	CustomerID, CustomerEmail      string
	Processor, DisputeID, ChargeID string
	PaymentID, Reference, Purchase string
	Amount, Reason, Status         string
	Revoked                        string // how many grants were ended
	// Suspended names the tiers the block suspends ("Supporter"); empty
	// if none.
	Suspended   string
	LiftCommand string // how to lift the block
	ShowCommand string // how to see the customer's blocks and grants
	// ResolveCommand is how to resolve the chargeback's support case.
	ResolveCommand string
	Business       string
}

func (s *Sender) dispute(ctx context.Context, e store.Email) disputeData {
	amount, _ := strconv.ParseInt(e.Data["amount"], 10, 64)
	d := disputeData{
		CaseID: e.Data["case"], Summary: e.Data["summary"], Opened: e.Data["opened"],
		CustomerID: e.CustomerID, CustomerEmail: s.customerEmail(ctx, e),
		Processor: e.Data["processor"], DisputeID: e.Data["dispute"], ChargeID: e.Data["charge"],
		PaymentID: e.Data["payment"], Reference: e.Data["reference"], Purchase: e.Data["purchase"],
		Amount: paidup.Money{Amount: amount, Currency: e.Data["currency"]}.String(), Reason: humanReason(e.Data["reason"]),
		Status: e.Data["status"], Revoked: e.Data["revoked"], Business: s.Business,
	}
	var suspended []string
	for _, t := range strings.Split(e.Data["suspended"], ",") {
		if t != "" {
			suspended = append(suspended, s.Policy.TierName(t))
		}
	}
	d.Suspended = andList(suspended)
	d.LiftCommand = fmt.Sprintf(`paidup block lift --customer %s --reason "…" --actor NAME`, e.CustomerID)
	d.ShowCommand = "paidup block show --customer " + cmp.Or(d.Reference, e.CustomerID)
	d.ResolveCommand = fmt.Sprintf(`paidup case resolve --case %s --actor NAME`, d.CaseID)
	return d
}

// customerEmail is the address of the customer an on-call email is about.
func (s *Sender) customerEmail(ctx context.Context, e store.Email) string {
	if a := e.Data["customer_email"]; a != "" {
		return a
	}
	if e.CustomerID != "" && s.Store != nil {
		if c, err := s.Store.Customer(ctx, e.CustomerID); err == nil {
			return c.Email
		}
	}
	return ""
}
