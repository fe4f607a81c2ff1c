package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Email kinds about a hold on a customer's access.
const (
	KindAccessOnHold   = "access_on_hold"  // a chargeback put the customer's access on hold
	KindAccessRestored = "access_restored" // a person lifted the hold
)

// HeldTier is a tier a hold suspends: the customer has it back when the
// hold is lifted, until Until (zero: for good).
type HeldTier struct {
	Tier  string    `json:"tier"`
	Until time.Time `json:"until,omitzero"`
}

// Hold is the email to a customer whose access a chargeback put on hold.
// It names the chargeback by paidup's reference, never the processor's
// ids, and accuses no one: the bank disputes, a person looks at it.
type Hold struct {
	CustomerID, To string
	// Processor and DisputeID make the email once per dispute.
	Processor, DisputeID string
	Reference            string       // the dispute's, e.g. PU-7K3M-Q9XD
	Amount               paidup.Money // the disputed payment
	PaidAt               time.Time
	PlanID               string    // what the disputed payment bought
	Since                time.Time // when the hold began
	Ended                []string  // the tiers of the grants the chargeback ended
	Kept                 []HeldTier
}

// QueueHold queues the hold email in the caller's transaction, once per
// dispute.
func (o *Outbox) QueueHold(ctx context.Context, tx *store.Tx, h Hold) error {
	if h.DisputeID == "" || h.CustomerID == "" || h.To == "" {
		return fmt.Errorf("queueing the hold email: the dispute, customer and address are required")
	}
	kept, err := json.Marshal(h.Kept)
	if err != nil {
		return err
	}
	data := map[string]string{
		"reference": h.Reference, "plan": h.PlanID, "amount": strconv.FormatInt(h.Amount.Amount, 10), "currency": h.Amount.Currency,
		"paid_at": h.PaidAt.UTC().Format(time.RFC3339), "since": h.Since.UTC().Format(time.RFC3339),
		"ended": strings.Join(h.Ended, ","), "kept": string(kept),
	}
	return queue(ctx, tx, store.Email{DedupeKey: "hold:" + h.Processor + ":" + h.DisputeID, CustomerID: h.CustomerID,
		Kind: KindAccessOnHold, To: h.To, Data: data}, h.Reference)
}

// Restored is the email to a customer told of a hold when a person lifts
// it: what they have back, and until when.
type Restored struct {
	CustomerID, To string
	BlockID        string // once per lifted block
	Reference      string // the dispute's
	// Others are the references of the other chargebacks whose holds
	// were lifted with it.
	Others []string
	Lifted time.Time
	// Tier is the access the customer has now, "" for none, until Until
	// (zero: for good).
	Tier  string
	Until time.Time
	// Renews is when the subscription that gives Tier renews, if it does.
	Renews time.Time
	// Ended are the tiers the chargeback ended that do not come back.
	Ended []string
}

// QueueRestored queues the hold-lifted email in the caller's transaction,
// once per block.
func (o *Outbox) QueueRestored(ctx context.Context, tx *store.Tx, r Restored) error {
	if r.BlockID == "" || r.CustomerID == "" || r.To == "" {
		return fmt.Errorf("queueing the hold lifted email: the block, customer and address are required")
	}
	data := map[string]string{"reference": r.Reference, "lifted": r.Lifted.UTC().Format(time.RFC3339), "tier": r.Tier,
		"ended": strings.Join(r.Ended, ",")}
	if len(r.Others) > 0 {
		data["others"] = strings.Join(r.Others, ",")
	}
	if !r.Until.IsZero() {
		data["until"] = r.Until.UTC().Format(time.RFC3339)
	}
	if !r.Renews.IsZero() {
		data["renews"] = r.Renews.UTC().Format(time.RFC3339)
	}
	return queue(ctx, tx, store.Email{DedupeKey: "restored:" + r.BlockID, CustomerID: r.CustomerID,
		Kind: KindAccessRestored, To: r.To, Data: data}, r.Reference)
}

// holdData is what the access_on_hold and access_restored templates get.
type holdData struct {
	Business, SupportEmail, Reference string
	AccountURL, ShopURL               string
	// Amount, PaidOn and PlanName describe the disputed payment; Since is
	// the day the hold began (access_on_hold).
	Amount, PaidOn, PlanName, Since string
	// Ended names the tiers the chargeback ended: "Pro" or "Pro and
	// Supporter"; empty if none.
	Ended string
	Kept  []heldView // access_on_hold: what comes back with the lift
	// Lifted is the day the hold was lifted; TierName and Until the
	// access the customer has now ("for good", "paid until 1 August
	// 2026"), TierName empty for none; Renews the day its subscription
	// renews, if it does (access_restored).
	Lifted, TierName, Until, Renews string
	// References names every chargeback whose hold was lifted ("PU-… and
	// PU-…") when there were several; empty for one.
	References string
}

// heldView is a suspended tier: its name and the day it ends ("3
// December 2027"), empty for none.
type heldView struct{ TierName, Until string }

func (s *Sender) hold(e store.Email) holdData {
	d := holdData{Business: s.Business, SupportEmail: s.SupportEmail, Reference: e.Data["reference"],
		AccountURL: s.PublicURL + "/account", ShopURL: s.PublicURL + "/",
		PaidOn: day(e.Data["paid_at"]), Since: day(e.Data["since"]), Lifted: day(e.Data["lifted"]), PlanName: e.Data["plan"]}
	if p, ok := s.Policy.Plan(e.Data["plan"]); ok {
		d.PlanName = p.Name
	}
	if amount, err := strconv.ParseInt(e.Data["amount"], 10, 64); err == nil && e.Data["currency"] != "" {
		d.Amount = paidup.Money{Amount: amount, Currency: e.Data["currency"]}.String()
	}
	var ended []string
	for _, t := range strings.Split(e.Data["ended"], ",") {
		if t != "" {
			ended = append(ended, s.Policy.TierName(t))
		}
	}
	d.Ended = andList(ended)
	var kept []HeldTier
	json.Unmarshal([]byte(e.Data["kept"]), &kept)
	for _, k := range kept {
		v := heldView{TierName: s.Policy.TierName(k.Tier)}
		if !k.Until.IsZero() {
			v.Until = k.Until.UTC().Format("2 January 2006")
		}
		d.Kept = append(d.Kept, v)
	}
	if others := e.Data["others"]; others != "" {
		d.References = andList(append([]string{d.Reference}, strings.Split(others, ",")...))
	}
	if t := e.Data["tier"]; t != "" {
		d.TierName, d.Until = s.Policy.TierName(t), "for good"
		if u := day(e.Data["until"]); u != "" {
			d.Until = "paid until " + u
		}
		d.Renews = day(e.Data["renews"])
	}
	return d
}

// andList writes names for people: "Pro", "Pro and Supporter", "Pro,
// Supporter and Extra".
func andList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
