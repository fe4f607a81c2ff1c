package notify

import (
	"context"
	"strconv"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/store"
)

// KindRefundIssued is the email to a customer whose payment was refunded,
// however paidup learnt of the refund (its own refund of a duplicate
// purchase, or one made in the processor's dashboard).
const KindRefundIssued = "refund_issued"

// QueueRefundIssued queues the refund-issued email, once per refund. Its
// reference is the refund's own (paidup.RefundReference), which support
// finds on the customer's timeline; the processor's ids stay out of it.
func (o *Outbox) QueueRefundIssued(ctx context.Context, tx *store.Tx, n checkout.RefundNotice) error {
	ref := paidup.RefundReference(n.Processor, n.Refund.ID)
	data := map[string]string{
		"reference": ref, "plan": n.Payment.PlanID, "tier": n.Tier, "purchase": n.Payment.CheckoutReference,
		"amount": strconv.FormatInt(n.Refund.Amount.Amount, 10), "currency": n.Refund.Amount.Currency,
		"paid": strconv.FormatInt(n.Payment.Amount.Amount, 10),
	}
	flag := func(key string, on bool) {
		if on {
			data[key] = "1"
		}
	}
	flag("full", n.Full)
	flag("duplicate", n.Duplicate)
	flag("blocked", n.Access.Blocked)
	flag("ungranted", n.Ungranted)
	if !n.Ended.IsZero() {
		data["ended"] = n.Ended.UTC().Format(time.RFC3339)
	}
	if n.Access.Active {
		data["keeps"] = n.Access.Tier
		if !n.Access.Until.IsZero() {
			data["keeps_until"] = n.Access.Until.UTC().Format(time.RFC3339)
		}
	}
	if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: n.CustomerID, Reference: ref, Kind: paidup.EventPayment, Source: paidup.BySystem,
		Summary: "Refund " + ref + ": " + n.Refund.Amount.String() + " of payment " + n.Payment.ID + " (" + n.Payment.CheckoutReference + ")",
		Data:    map[string]string{"refund": n.Refund.ID, "payment": n.Payment.ID, "purchase": n.Payment.CheckoutReference}}); err != nil {
		return err
	}
	return queue(ctx, tx, store.Email{
		DedupeKey: "refund_issued:" + n.Processor + ":" + n.Refund.ID, CustomerID: n.CustomerID, Kind: KindRefundIssued, To: n.Email, Data: data,
	}, ref)
}

// refundData is what the refund_issued template gets.
type refundData struct {
	Business, SupportEmail string
	Reference              string // the refund's
	Amount                 string // refunded: "$249.00"
	Paid                   string // the payment's amount
	PlanName, TierName     string
	// Full: the whole payment came back; Duplicate: it bought nothing
	// the customer did not hold already.
	Full, Duplicate bool
	// Blocked: access is on hold, whatever the refund.
	Blocked bool
	// Ungranted: the payment was refunded before it granted anything.
	Ungranted bool
	// Ended is the day the refund ended the payment's access; "" if it
	// did not.
	Ended string
	// Keeps is the tier the customer keeps after the refund, KeepsUntil
	// "until 3 December 2027" or "for good"; Keeps is "" with no access.
	Keeps, KeepsUntil string
	AccountURL        string
}

func (s *Sender) refund(e store.Email) refundData {
	money := func(key string) string {
		n, err := strconv.ParseInt(e.Data[key], 10, 64)
		if err != nil {
			return ""
		}
		return paidup.Money{Amount: n, Currency: e.Data["currency"]}.String()
	}
	d := refundData{
		Business: s.Business, SupportEmail: s.SupportEmail, Reference: e.Data["reference"],
		Amount: money("amount"), Paid: money("paid"), PlanName: e.Data["plan"], TierName: s.Policy.TierName(e.Data["tier"]),
		Full: e.Data["full"] != "", Duplicate: e.Data["duplicate"] != "", Blocked: e.Data["blocked"] != "",
		Ungranted: e.Data["ungranted"] != "", Ended: day(e.Data["ended"]),
		AccountURL: s.PublicURL + "/account",
	}
	if p, ok := s.Policy.Plan(e.Data["plan"]); ok {
		d.PlanName = p.Name
	}
	if d.PlanName == "" {
		d.PlanName = "your purchase"
	}
	if d.TierName == "" {
		d.TierName = d.PlanName
	}
	if k := e.Data["keeps"]; k != "" {
		d.Keeps, d.KeepsUntil = s.Policy.TierName(k), "for good"
		if u := day(e.Data["keeps_until"]); u != "" {
			d.KeepsUntil = "until " + u
		}
	}
	return d
}
