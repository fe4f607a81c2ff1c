package checkout

import (
	"context"
	"fmt"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Refunded records that the processor refunded part or all of a payment.
// A full refund ends the access the payment granted; a partial one does
// not. Recording the same refund again changes nothing.
func (s *Service) Refunded(ctx context.Context, paymentID string, amountRefunded int64, eventID string) error {
	processor := s.Processor.Name()
	return s.Store.InTx(ctx, func(tx *store.Tx) error {
		p, found, err := tx.PaymentForUpdate(ctx, processor, paymentID)
		if err != nil {
			return err
		}
		if !found {
			// Not recorded yet (a renewal whose own events are still on
			// their way), or none of paidup's: kept, so that the payment,
			// if it is ever recorded, grants nothing it should not.
			return tx.RecordEarlyRefund(ctx, processor, paymentID, amountRefunded)
		}
		changed, err := tx.RecordRefund(ctx, processor, paymentID, amountRefunded)
		if err != nil || !changed {
			return err
		}
		ids := map[string]string{"payment": paymentID, "event": eventID}
		refund := paidup.Money{Amount: amountRefunded, Currency: p.Amount.Currency}
		if err := tx.Append(ctx, store.TimelineEntry{CustomerID: p.CustomerID, Reference: p.CheckoutReference, Kind: store.EventPayment,
			Source: store.ByWebhook, Summary: fmt.Sprintf("Refund recorded: %s of %s", refund, p.Amount), Data: ids}); err != nil {
			return err
		}
		if amountRefunded < p.Amount.Amount {
			return nil
		}
		// A one-time purchase's grant, or a subscription period's.
		g, found, err := tx.GrantBySource(ctx, paidup.SourcePurchase, processor+":"+paymentID)
		if err == nil && !found {
			g, found, err = tx.GrantBySource(ctx, paidup.SourceSubscription, processor+":"+paymentID)
		}
		if err != nil || !found {
			return err
		}
		revoked, err := tx.RevokeGrant(ctx, g.ID, "payment refunded")
		if err != nil || !revoked {
			return err
		}
		ids["grant"] = g.ID
		return tx.Append(ctx, store.TimelineEntry{CustomerID: p.CustomerID, Reference: p.CheckoutReference, Kind: store.EventGrant,
			Source: store.ByWebhook, Summary: "Access ended: the payment was refunded in full", Data: ids})
	})
}
