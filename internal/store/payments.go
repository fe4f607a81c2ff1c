package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// Payment statuses.
const (
	PaymentSucceeded = "succeeded"
	PaymentRefunded  = "refunded" // fully refunded
)

// Payment is a processor payment paidup knows of.
type Payment struct {
	Processor         string
	ID                string
	CustomerID        string
	CheckoutReference string
	CheckoutID        string
	PlanID            string
	Amount            paidup.Money
	AmountRefunded    int64
	Status            string
	PaidAt            time.Time
}

// RecordPayment mirrors a succeeded payment, once.
func (tx *Tx) RecordPayment(ctx context.Context, p Payment) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO payments
		(processor, payment_id, customer_id, checkout_reference, checkout_id, plan_id, amount, currency, status, paid_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (processor, payment_id) DO NOTHING`,
		p.Processor, p.ID, p.CustomerID, nullString(p.CheckoutReference), nullString(p.CheckoutID), p.PlanID,
		p.Amount.Amount, p.Amount.Currency, PaymentSucceeded, ts(p.PaidAt), tx.now)
	if err != nil {
		return fmt.Errorf("recording payment %s: %w", p.ID, err)
	}
	return nil
}

// LinkPaymentCheckout records the checkout a payment was made through, and
// the attempt it settles, on a payment recorded without them: a
// subscription's first payment, recorded by its sync before its checkout
// was fulfilled.
func (tx *Tx) LinkPaymentCheckout(ctx context.Context, processor, id, ref, checkoutID string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE payments SET checkout_id = $3, checkout_reference = $4, updated_at = $5
		WHERE processor = $1 AND payment_id = $2 AND checkout_id IS NULL`, processor, id, checkoutID, ref, tx.now)
	if err != nil {
		return fmt.Errorf("recording the checkout of payment %s: %w", id, err)
	}
	return nil
}

// PaymentForUpdate reads a payment in the transaction.
func (tx *Tx) PaymentForUpdate(ctx context.Context, processor, id string) (Payment, bool, error) {
	var p Payment
	var ref, checkout sql.NullString
	err := tx.tx.QueryRowContext(ctx, `SELECT processor, payment_id, customer_id, checkout_reference, checkout_id, plan_id,
		amount, currency, amount_refunded, status, paid_at FROM payments WHERE processor = $1 AND payment_id = $2`, processor, id).Scan(
		&p.Processor, &p.ID, &p.CustomerID, &ref, &checkout, &p.PlanID, &p.Amount.Amount, &p.Amount.Currency, &p.AmountRefunded, &p.Status, &p.PaidAt)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("reading payment %s: %w", id, err)
	}
	p.CheckoutReference, p.CheckoutID, p.PaidAt = ref.String, checkout.String, p.PaidAt.UTC()
	return p, true, nil
}

// RecordRefund records how much of a payment has been refunded; a full
// refund makes it refunded. It reports whether anything changed.
func (tx *Tx) RecordRefund(ctx context.Context, processor, id string, refunded int64) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE payments
		SET amount_refunded = $3, status = CASE WHEN $3 >= amount THEN $4 ELSE status END, updated_at = $5
		WHERE processor = $1 AND payment_id = $2 AND amount_refunded < $3`,
		processor, id, refunded, PaymentRefunded, tx.now)
	if err != nil {
		return false, fmt.Errorf("recording refund of %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PaymentKnown reports whether paidup has recorded a payment.
func (s *Store) PaymentKnown(ctx context.Context, processor, id string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM payments WHERE processor = $1 AND payment_id = $2`, processor, id).Scan(&n)
	return n > 0, err
}

// Payments lists a customer's payments, newest first.
func (s *Store) Payments(ctx context.Context, customerID string) ([]Payment, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT processor, payment_id, customer_id, checkout_reference, checkout_id, plan_id,
		amount, currency, amount_refunded, status, paid_at FROM payments WHERE customer_id = $1 ORDER BY paid_at DESC`, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing payments: %w", err)
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		var p Payment
		var ref, checkout sql.NullString
		if err := rows.Scan(&p.Processor, &p.ID, &p.CustomerID, &ref, &checkout, &p.PlanID, &p.Amount.Amount, &p.Amount.Currency,
			&p.AmountRefunded, &p.Status, &p.PaidAt); err != nil {
			return nil, fmt.Errorf("listing payments: %w", err)
		}
		p.CheckoutReference, p.CheckoutID, p.PaidAt = ref.String, checkout.String, p.PaidAt.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// RecordEarlyRefund keeps a refund of a payment paidup has not recorded
// yet, until it is (see EarlyRefund). The largest amount refunded wins.
func (tx *Tx) RecordEarlyRefund(ctx context.Context, processor, paymentID string, refunded int64) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO early_refunds (processor, payment_id, amount_refunded, recorded_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (processor, payment_id) DO UPDATE SET
		amount_refunded = CASE WHEN excluded.amount_refunded > early_refunds.amount_refunded
			THEN excluded.amount_refunded ELSE early_refunds.amount_refunded END`,
		processor, paymentID, refunded, tx.now)
	if err != nil {
		return fmt.Errorf("recording refund of %s: %w", paymentID, err)
	}
	return nil
}

// EarlyRefund is how much of a payment was refunded before paidup recorded
// the payment; 0 if nothing was.
func (tx *Tx) EarlyRefund(ctx context.Context, processor, paymentID string) (int64, error) {
	var n int64
	err := tx.tx.QueryRowContext(ctx, `SELECT amount_refunded FROM early_refunds WHERE processor = $1 AND payment_id = $2`,
		processor, paymentID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}
