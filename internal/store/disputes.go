package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
)

const disputeColumns = `processor, dispute_id, payment_id, customer_id, reference, amount, currency, reason, status, created_at`

func scanDispute(row interface{ Scan(...any) error }) (paidup.Dispute, error) {
	var d paidup.Dispute
	err := row.Scan(&d.Processor, &d.ID, &d.PaymentID, &d.CustomerID, &d.Reference, &d.Amount.Amount, &d.Amount.Currency,
		&d.Reason, &d.Status, &d.CreatedAt)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, err
}

// RecordDispute mirrors a dispute: a new one gets a new reference, a known
// one its status. It returns the dispute as recorded and whether it is new.
func (tx *Tx) RecordDispute(ctx context.Context, d paidup.Dispute) (paidup.Dispute, bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO disputes (`+disputeColumns+`, recorded_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (processor, dispute_id) DO NOTHING`,
		d.Processor, d.ID, d.PaymentID, d.CustomerID, paidup.NewReference(), d.Amount.Amount, d.Amount.Currency, d.Reason, d.Status,
		ts(d.CreatedAt), tx.now)
	if err != nil {
		return d, false, fmt.Errorf("recording dispute %s: %w", d.ID, err)
	}
	created, _ := res.RowsAffected()
	if created == 0 {
		if _, err := tx.tx.ExecContext(ctx, `UPDATE disputes SET status = $3, updated_at = $4
			WHERE processor = $1 AND dispute_id = $2 AND status <> $3`, d.Processor, d.ID, d.Status, tx.now); err != nil {
			return d, false, fmt.Errorf("recording dispute %s: %w", d.ID, err)
		}
	}
	rec, found, err := tx.Dispute(ctx, d.Processor, d.ID)
	if err == nil && !found {
		err = fmt.Errorf("dispute %s vanished", d.ID)
	}
	return rec, created == 1, err
}

// Dispute reads a mirrored dispute in the transaction; found is false if
// paidup has none.
func (tx *Tx) Dispute(ctx context.Context, processor, id string) (paidup.Dispute, bool, error) {
	d, err := scanDispute(tx.tx.QueryRowContext(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE processor = $1 AND dispute_id = $2`,
		processor, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("reading dispute %s: %w", id, err)
	}
	return d, true, nil
}

// DisputedPayment is the payment a dispute took back: from the dispute's
// record or, for a chargeback paidup acted on before it recorded
// disputes, from its support case.
func (tx *Tx) DisputedPayment(ctx context.Context, processor, disputeID string) (string, bool, error) {
	var id string
	err := tx.tx.QueryRowContext(ctx, `SELECT payment_id FROM disputes WHERE processor = $1 AND dispute_id = $2
		UNION ALL SELECT payment_id FROM support_cases WHERE dedupe_key = $3 AND payment_id <> ''`,
		processor, disputeID, "dispute:"+processor+":"+disputeID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the payment of dispute %s: %w", disputeID, err)
	}
	return id, true, nil
}

// CustomerByReference finds the customer a reference of paidup's names: a
// dispute's, or a checkout's.
func (s *Store) CustomerByReference(ctx context.Context, ref string) (paidup.Customer, error) {
	var id sql.NullString
	err := s.db.Read.QueryRowContext(ctx, `SELECT customer_id FROM disputes WHERE reference = $1
		UNION ALL SELECT customer_id FROM checkout_attempts WHERE reference = $1 AND customer_id IS NOT NULL`, ref).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !id.Valid) {
		return paidup.Customer{}, paidup.Errorf(paidup.ENOTFOUND, "No customer has a purchase or dispute with reference %s.", ref)
	}
	if err != nil {
		return paidup.Customer{}, fmt.Errorf("finding the customer of %s: %w", ref, err)
	}
	return s.Customer(ctx, id.String)
}
