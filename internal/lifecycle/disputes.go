package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// Disputed acts on a chargeback, once per dispute: the grants the
// chargeback policy ends end at once, a dispute block suspends the rest
// until a person lifts it, the customer's pending deadlines are
// cancelled, on-call is alerted and the customer is told their access is
// on hold, with the dispute's reference. A dispute that has closed (won
// or lost) is put on the timeline when closed is true; the block stays.
func (s *Service) Disputed(ctx context.Context, disputeID string, closed bool, source string) error {
	d, err := s.Processor.Dispute(ctx, disputeID)
	if err != nil {
		return fmt.Errorf("reading dispute %s: %w", disputeID, err)
	}
	processor := s.Processor.Name()
	err = s.Store.InTx(ctx, func(tx *store.Tx) error {
		// The payment must be known: its own events may still be on their
		// way, and the dispute waits for them (the caller retries). A
		// payment that is none of paidup's stays unknown.
		p, found, err := tx.PaymentForUpdate(ctx, processor, d.PaymentID)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: dispute %s of payment %s", ErrUnknownPayer, d.ID, d.PaymentID)
		}
		rec, _, err := tx.RecordDispute(ctx, paidup.Dispute{Processor: processor, ID: d.ID, PaymentID: d.PaymentID, CustomerID: p.CustomerID,
			Amount: d.Amount, Reason: d.Reason, Status: d.Status, CreatedAt: d.Created})
		if err != nil {
			return err
		}
		c := &chargeback{s: s, tx: tx, ctx: ctx, d: d, payment: p, rec: rec, source: source}
		b, blocked, err := tx.AddBlock(ctx, paidup.Block{CustomerID: p.CustomerID, Source: paidup.BlockDispute, CreatedAt: d.Created,
			Reason: fmt.Sprintf("chargeback %s (%s) of %s", d.ID, orUnknown(d.Reason), d.Amount)}, processor+":"+d.ID)
		if err != nil {
			return err
		}
		if blocked {
			if err := c.hold(b); err != nil {
				return err
			}
		}
		if closed && (d.Status == paidup.DisputeWon || d.Status == paidup.DisputeLost) {
			if err := c.entry(fmt.Sprintf("Chargeback %s (%s) closed: %s. The block stays until a person lifts it", rec.Reference, d.ID, d.Status)); err != nil {
				return err
			}
		}
		failpoint.Inject("dispute.before_commit")
		return nil
	})
	if err != nil {
		return fmt.Errorf("acting on dispute %s: %w", disputeID, err)
	}
	return nil
}

// ErrUnknownPayer is a dispute of a payment paidup does not know (yet).
var ErrUnknownPayer = errors.New("the disputed payment is not known to paidup")

// chargeback is one dispute acted on in a transaction.
type chargeback struct {
	s       *Service
	tx      *store.Tx
	ctx     context.Context
	d       paidup.ProcessorDispute
	payment paidup.Payment
	rec     paidup.Dispute
	source  string
}

func (c *chargeback) entry(summary string) error {
	return c.tx.Append(c.ctx, paidup.TimelineEntry{CustomerID: c.payment.CustomerID, Reference: c.rec.Reference, Kind: paidup.EventDispute,
		Source: c.source, Summary: summary,
		Data: map[string]string{"dispute": c.d.ID, "payment": c.d.PaymentID, "charge": c.d.ChargeID}})
}

// hold applies the chargeback policy under the new block b: it ends the
// grants the policy ends and leaves the rest to the block, then tells
// on-call and the customer.
func (c *chargeback) hold(b paidup.Block) error {
	ctx, tx, d := c.ctx, c.tx, c.d
	customerID := c.payment.CustomerID
	grants, err := tx.Grants(ctx, customerID)
	if err != nil {
		return err
	}
	// The grant resting on the disputed payment always ends. Of those the
	// customer held when the chargeback was made, the policy's kinds end
	// too (by default the recurring ones). Grants from later payments (a
	// renewal paid since) rest on money the bank has not taken back; they,
	// and the kinds the policy keeps, are suspended by the block.
	disputed := c.s.Processor.Name() + ":" + d.PaymentID
	now := tx.Now()
	var ended, suspended []paidup.Grant
	for _, g := range grants {
		if !g.Revoked.IsZero() || (!g.End.IsZero() && !g.End.After(now) && g.SourceRef != disputed) {
			continue // ended already
		}
		held := !g.Start.After(d.Created) && (g.End.IsZero() || d.Created.Before(g.End))
		if g.SourceRef != disputed && (!held || !c.s.Policy.ChargebackEnds(g, disputed)) {
			suspended = append(suspended, g)
			continue
		}
		if ok, err := tx.RevokeGrant(ctx, g.ID, "chargeback "+d.ID); err != nil {
			return err
		} else if ok {
			ended = append(ended, g)
		}
	}
	if _, err := tx.CancelCustomerDeadlines(ctx, customerID); err != nil {
		return err
	}
	kept := heldTiers(suspended)
	keptIDs := make([]string, len(kept))
	for i, k := range kept {
		keptIDs[i] = k.Tier
	}
	summary := fmt.Sprintf("Chargeback %s of %s (%s): %d grants ended by the chargeback policy; the customer blocked until a person lifts it",
		c.rec.Reference, d.Amount, orUnknown(d.Reason), len(ended))
	if len(kept) > 0 {
		summary += fmt.Sprintf("; suspended until then: %s", c.s.tierNames(keptIDs))
	}
	if err := c.entry(summary); err != nil {
		return err
	}
	cu, err := tx.Customer(ctx, customerID)
	if err != nil {
		return err
	}
	if err := c.s.Notify.AlertDispute(ctx, tx, notify.DisputeAlert{CustomerID: customerID, Email: cu.Email, Processor: c.s.Processor.Name(),
		Dispute: d, Revoked: len(ended), Suspended: keptIDs, Reference: c.rec.Reference, Purchase: c.payment.CheckoutReference}); err != nil {
		return err
	}
	var endedTiers []string
	for _, g := range ended {
		if !slices.Contains(endedTiers, g.Tier) && !slices.Contains(keptIDs, g.Tier) {
			endedTiers = append(endedTiers, g.Tier)
		}
	}
	return c.s.Notify.QueueHold(ctx, tx, notify.Hold{CustomerID: customerID, To: cu.Email, Processor: c.s.Processor.Name(), DisputeID: d.ID,
		Reference: c.rec.Reference, Amount: c.payment.Amount, PaidAt: c.payment.PaidAt, PlanID: c.payment.PlanID, Since: b.CreatedAt,
		Ended: endedTiers, Kept: kept})
}

// heldTiers are the tiers suspended grants give, each once, with its
// latest end (zero: for good), in the order of the grants.
func heldTiers(grants []paidup.Grant) []notify.HeldTier {
	var out []notify.HeldTier
	for _, g := range grants {
		i := slices.IndexFunc(out, func(h notify.HeldTier) bool { return h.Tier == g.Tier })
		if i < 0 {
			out = append(out, notify.HeldTier{Tier: g.Tier, Until: g.End})
			continue
		}
		if !out[i].Until.IsZero() && (g.End.IsZero() || g.End.After(out[i].Until)) {
			out[i].Until = g.End
		}
	}
	return out
}

func (s *Service) tierNames(ids []string) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = s.Policy.TierName(id)
	}
	return strings.Join(names, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return strings.ReplaceAll(s, "_", " ")
}

// BlockTx blocks a customer in tx: a person's decision, with their name
// and reason on the timeline. It ends no grant: the block suspends them
// all until a person lifts it. The customer is not emailed; the person
// tells them. BlockTx and LiftBlocksTx use only the Store, Policy and
// Notify; the support service is where people call them from.
func (s *Service) BlockTx(ctx context.Context, tx *store.Tx, customerID, actor, reason string) (paidup.Block, error) {
	b, _, err := tx.AddBlock(ctx, paidup.Block{CustomerID: customerID, Source: paidup.BlockStaff, Reason: reason + " (by " + actor + ")"}, "")
	if err != nil {
		return b, err
	}
	return b, tx.Append(ctx, paidup.TimelineEntry{CustomerID: customerID, Kind: paidup.EventBlock, Source: paidup.ByStaff,
		Summary: fmt.Sprintf("Blocked by %s: %s. Every grant is suspended until a person lifts the block", actor, reason),
		Data:    map[string]string{"block": b.ID, "actor": actor}})
}

// LiftBlocksTx lifts every block on a customer in tx: a person's
// decision, with their name and reason on the timeline. What the blocks
// suspended comes back; what a chargeback ended stays ended. A customer
// told of a hold (a chargeback's) is told it is lifted, with what they
// have back and until when. It returns the blocks lifted.
func (s *Service) LiftBlocksTx(ctx context.Context, tx *store.Tx, customerID, actor, reason string) ([]paidup.Block, error) {
	lifted, err := tx.LiftBlocks(ctx, customerID, actor, reason)
	if err != nil || len(lifted) == 0 {
		return nil, err
	}
	failpoint.Inject("block.before_commit")
	for _, b := range lifted {
		if err := s.reapplyPolicy(ctx, tx, b); err != nil {
			return nil, err
		}
	}
	grants, err := tx.Grants(ctx, customerID)
	if err != nil {
		return nil, err
	}
	blocks, err := tx.Blocks(ctx, customerID)
	if err != nil {
		return nil, err
	}
	at := Moment(tx.Now(), grants, blocks)
	a := s.Policy.AccessAt(grants, blocks, at)
	var holds []string // the references of the chargebacks the customer was told of
	for _, b := range lifted {
		ref := ""
		if processor, id, ok := strings.Cut(b.SourceRef, ":"); ok && b.Source == paidup.BlockDispute {
			d, found, err := tx.Dispute(ctx, processor, id)
			if err != nil {
				return nil, err
			}
			if found {
				ref = d.Reference
				holds = append(holds, ref)
			}
		}
		if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: customerID, Reference: ref, Kind: paidup.EventBlock, Source: paidup.ByStaff,
			Summary: fmt.Sprintf("Block lifted by %s: %s (it was: %s); access now: %s", actor, reason, b.Reason, s.describeAccess(a)),
			Data:    map[string]string{"block": b.ID, "actor": actor}}); err != nil {
			return nil, err
		}
		if err := resolveDisputeCase(ctx, tx, b, ref, actor, reason); err != nil {
			return nil, err
		}
	}
	if len(holds) == 0 {
		return lifted, nil // no one told the customer of a hold
	}
	cu, err := tx.Customer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	renews, err := renewal(ctx, tx, customerID, grants, a, at)
	if err != nil {
		return nil, err
	}
	return lifted, s.Notify.QueueRestored(ctx, tx, notify.Restored{CustomerID: customerID, To: cu.Email, BlockID: lifted[0].ID,
		Reference: holds[0], Others: holds[1:], Lifted: at, Tier: a.Tier, Until: a.Until, Renews: renews, Ended: endedForGood(grants, a, at)})
}

// resolveDisputeCase resolves the support case a chargeback's block b
// opened, if it is open: lifting the block is the person's decision on it.
func resolveDisputeCase(ctx context.Context, tx *store.Tx, b paidup.Block, ref, actor, reason string) error {
	if b.Source != paidup.BlockDispute || b.SourceRef == "" {
		return nil
	}
	id, found, err := tx.CaseID(ctx, "dispute:"+b.SourceRef)
	if err != nil || !found {
		return err
	}
	sc, open, err := tx.ResolveCase(ctx, id, actor, "Block lifted: "+reason)
	if err != nil || !open {
		return err
	}
	return tx.Append(ctx, paidup.TimelineEntry{CustomerID: b.CustomerID, Reference: ref, Kind: paidup.EventSupportCase, Source: paidup.ByStaff,
		Summary: fmt.Sprintf("Support case resolved by %s: block lifted: %s", actor, reason),
		Data:    map[string]string{"case": sc.ID, "kind": sc.Kind, "actor": actor}})
}

// reapplyPolicy gives back, as the block b is lifted, the grants its
// chargeback ended that the chargeback policy suspends instead: those of a
// chargeback acted on before the policy said so (when every grant ended),
// or under a policy since changed.
func (s *Service) reapplyPolicy(ctx context.Context, tx *store.Tx, b paidup.Block) error {
	processor, disputeID, ok := strings.Cut(b.SourceRef, ":")
	if b.Source != paidup.BlockDispute || !ok {
		return nil
	}
	paymentID, found, err := tx.DisputedPayment(ctx, processor, disputeID)
	if err != nil || !found {
		return err
	}
	grants, err := tx.Grants(ctx, b.CustomerID)
	if err != nil {
		return err
	}
	why := "chargeback " + disputeID
	for _, g := range grants {
		if g.RevokeReason != why || s.Policy.ChargebackEnds(g, processor+":"+paymentID) {
			continue
		}
		if ok, err := tx.RestoreGrant(ctx, g.ID, why); err != nil {
			return err
		} else if ok {
			if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: b.CustomerID, Kind: paidup.EventBlock, Source: paidup.ByStaff,
				Summary: fmt.Sprintf("%s is back: the chargeback policy suspends it rather than ending it", s.Policy.TierName(g.Tier)),
				Data:    map[string]string{"grant": g.ID, "block": b.ID}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Moment is now, or later when paidup wrote a grant or a block dated
// ahead of now: a command run with the wall clock beside a paidup whose
// business clock follows a processor's test clock reads access at the
// latest moment paidup has recorded, not in its past.
func Moment(now time.Time, grants []paidup.Grant, blocks []paidup.Block) time.Time {
	at := now
	later := func(t time.Time) {
		if t.After(at) {
			at = t
		}
	}
	for _, g := range grants {
		later(g.Start)
		later(g.CreatedAt)
		later(g.Revoked)
	}
	for _, b := range blocks {
		later(b.CreatedAt)
		later(b.Lifted)
	}
	return at
}

// renewal is when the subscription behind the access a renews, if a rests
// on a paid period of one that is to renew; zero otherwise.
func renewal(ctx context.Context, tx *store.Tx, customerID string, grants []paidup.Grant, a paidup.Access, at time.Time) (time.Time, error) {
	if !a.Active || a.Until.IsZero() {
		return time.Time{}, nil
	}
	subs, err := tx.CustomerSubscriptions(ctx, customerID)
	if err != nil {
		return time.Time{}, err
	}
	for _, g := range grants {
		if g.Tier != a.Tier || g.Source != paidup.SourceSubscription || !g.ActiveAt(at) {
			continue
		}
		for _, sub := range subs {
			if sub.PlanID == g.PlanID && !sub.CancelAtPeriodEnd && sub.EndedAt.IsZero() && sub.Status != paidup.SubscriptionCanceled &&
				sub.PeriodEnd.After(at) {
				return sub.PeriodEnd, nil
			}
		}
	}
	return time.Time{}, nil
}

// endedForGood are the tiers a chargeback ended that no grant gives at t.
func endedForGood(grants []paidup.Grant, a paidup.Access, t time.Time) []string {
	var out []string
	for _, g := range grants {
		if !strings.HasPrefix(g.RevokeReason, "chargeback ") || g.Tier == a.Tier || slices.Contains(out, g.Tier) ||
			slices.ContainsFunc(grants, func(o paidup.Grant) bool { return o.Tier == g.Tier && o.ActiveAt(t) }) {
			continue
		}
		out = append(out, g.Tier)
	}
	return out
}

// describeAccess writes access for the timeline: "Pro until 1 August 2026
// 09:00 UTC", "Supporter for good", "none".
func (s *Service) describeAccess(a paidup.Access) string {
	switch {
	case a.Blocked:
		return "none (blocked)"
	case !a.Active:
		return "none"
	case a.Until.IsZero():
		return s.Policy.TierName(a.Tier) + " for good"
	}
	return s.Policy.TierName(a.Tier) + " until " + a.Until.Format("2 January 2006 15:04 MST")
}
