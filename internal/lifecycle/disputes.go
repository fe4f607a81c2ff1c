package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// Disputed acts on a chargeback: every grant of the customer ends at once,
// a dispute block holds until a person lifts it, their pending deadlines
// are cancelled and on-call is alerted. Once per dispute. A dispute that
// has closed (won or lost) is put on the timeline when closed is true; the
// block stays.
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
		customerID := p.CustomerID
		entry := func(summary string) error {
			return tx.Append(ctx, store.TimelineEntry{CustomerID: customerID, Kind: store.EventDispute, Source: source, Summary: summary,
				Data: map[string]string{"dispute": d.ID, "payment": d.PaymentID, "charge": d.ChargeID}})
		}
		_, blocked, err := tx.AddBlock(ctx, paidup.Block{CustomerID: customerID, Source: paidup.BlockDispute, CreatedAt: d.Created,
			Reason: fmt.Sprintf("chargeback %s (%s) of %s", d.ID, orUnknown(d.Reason), d.Amount)}, processor+":"+d.ID)
		if err != nil {
			return err
		}
		if blocked {
			grants, err := tx.Grants(ctx, customerID)
			if err != nil {
				return err
			}
			revoked := 0
			// The grant resting on the disputed payment, and those the
			// customer held before the chargeback; grants from later
			// payments (a renewal paid since) rest on money the bank has
			// not taken back, and stay behind the block.
			disputed := processor + ":" + d.PaymentID
			for _, g := range grants {
				held := g.Start.Before(d.Created) && (g.End.IsZero() || d.Created.Before(g.End))
				if !g.Revoked.IsZero() || (!held && g.SourceRef != disputed) {
					continue
				}
				if ok, err := tx.RevokeGrant(ctx, g.ID, "chargeback "+d.ID); err != nil {
					return err
				} else if ok {
					revoked++
				}
			}
			if _, err := tx.CancelCustomerDeadlines(ctx, customerID); err != nil {
				return err
			}
			if err := entry(fmt.Sprintf("Chargeback of %s (%s): %d grants ended and the customer blocked until a person lifts it",
				d.Amount, orUnknown(d.Reason), revoked)); err != nil {
				return err
			}
			cu, err := tx.Customer(ctx, customerID)
			if err != nil {
				return err
			}
			if err := s.Notify.AlertDispute(ctx, tx, notify.DisputeAlert{CustomerID: customerID, Email: cu.Email, Processor: processor, Dispute: d, Revoked: revoked}); err != nil {
				return err
			}
		}
		if closed && (d.Status == paidup.DisputeWon || d.Status == paidup.DisputeLost) {
			if err := entry(fmt.Sprintf("Chargeback %s closed: %s. The block stays until a person lifts it", d.ID, d.Status)); err != nil {
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

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return strings.ReplaceAll(s, "_", " ")
}

// LiftBlocks lifts every block on a customer: a person's decision, with
// their name and reason on the timeline. Access then follows the
// customer's grants. It returns the blocks lifted.
func LiftBlocks(ctx context.Context, st *store.Store, customerID, actor, reason string) ([]paidup.Block, error) {
	actor, reason = strings.TrimSpace(actor), strings.TrimSpace(reason)
	if actor == "" || reason == "" {
		return nil, paidup.Errorf(paidup.EINVALID, "lifting a block needs who lifts it and why")
	}
	var lifted []paidup.Block
	err := st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if lifted, err = tx.LiftBlocks(ctx, customerID, actor, reason); err != nil || len(lifted) == 0 {
			return err
		}
		for _, b := range lifted {
			if err := tx.Append(ctx, store.TimelineEntry{CustomerID: customerID, Kind: store.EventBlock, Source: store.ByStaff,
				Summary: fmt.Sprintf("Block lifted by %s: %s (it was: %s)", actor, reason, b.Reason),
				Data:    map[string]string{"block": b.ID, "actor": actor}}); err != nil {
				return err
			}
		}
		return nil
	})
	return lifted, err
}
