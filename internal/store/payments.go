package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// RecordPayment mirrors a succeeded payment, once. A payment recorded
// before without its checkout (a subscription's first payment, recorded
// by its sync while its checkout was being fulfilled in another
// transaction) gets the checkout p names, as LinkPaymentCheckout would;
// nothing else of it changes.
func (tx *Tx) RecordPayment(ctx context.Context, p paidup.Payment) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO payments
		(processor, payment_id, customer_id, checkout_reference, checkout_id, plan_id, amount, currency, status, paid_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (processor, payment_id) DO UPDATE
		SET checkout_id = excluded.checkout_id, checkout_reference = excluded.checkout_reference, updated_at = excluded.updated_at
		WHERE payments.checkout_id IS NULL AND excluded.checkout_id IS NOT NULL`,
		p.Processor, p.ID, p.CustomerID, nullString(p.CheckoutReference), nullString(p.CheckoutID), p.PlanID,
		p.Amount.Amount, p.Amount.Currency, paidup.PaymentSucceeded, ts(p.PaidAt), tx.now)
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
func (tx *Tx) PaymentForUpdate(ctx context.Context, processor, id string) (paidup.Payment, bool, error) {
	var p paidup.Payment
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

// SetRefunded records how much of a payment is refunded, as the processor
// says now: refunded in full, the payment is refunded; less (a refund that
// failed, or a record that was wrong), it is succeeded again. It reports
// whether anything changed.
func (tx *Tx) SetRefunded(ctx context.Context, processor, id string, refunded int64) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE payments
		SET amount_refunded = $3, status = CASE WHEN $3 >= amount THEN $4 ELSE $5 END, updated_at = $6, refunds_checked_at = $6
		WHERE processor = $1 AND payment_id = $2 AND (amount_refunded <> $3 OR status <> CASE WHEN $3 >= amount THEN $4 ELSE $5 END)`,
		processor, id, refunded, paidup.PaymentRefunded, paidup.PaymentSucceeded, tx.now)
	if err != nil {
		return false, fmt.Errorf("recording the refunds of %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Payment reads a payment paidup knows of.
func (s *Store) Payment(ctx context.Context, processor, id string) (paidup.Payment, bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE processor = $1 AND payment_id = $2`, processor, id)
	if err != nil {
		return paidup.Payment{}, false, fmt.Errorf("reading payment %s: %w", id, err)
	}
	ps, err := scanPayments(rows)
	if err != nil || len(ps) == 0 {
		return paidup.Payment{}, false, err
	}
	return ps[0], true, nil
}

// RefundedPayments lists a processor's payments that paidup has marked
// refunded in full or in part, the latest changed first. Only those
// changed at or after since are listed; unless checkedBefore is zero, only
// those whose refunds were not confirmed with the processor since then;
// at most limit of them, unless limit is 0.
func (s *Store) RefundedPayments(ctx context.Context, processor string, since, checkedBefore time.Time, limit int) ([]paidup.Payment, error) {
	q := `SELECT ` + paymentColumns + ` FROM payments
		WHERE (amount_refunded > 0 OR status = 'refunded') AND processor = $1 AND updated_at >= $2`
	args := []any{processor, ts(since)}
	if !checkedBefore.IsZero() {
		q += ` AND (refunds_checked_at IS NULL OR refunds_checked_at < $3)`
		args = append(args, ts(checkedBefore))
	}
	q += ` ORDER BY updated_at DESC, payment_id`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing refunded payments: %w", err)
	}
	return scanPayments(rows)
}

// MarkRefundsChecked records that a payment's refunds were confirmed with
// the processor now.
func (s *Store) MarkRefundsChecked(ctx context.Context, processor, id string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE payments SET refunds_checked_at = $3 WHERE processor = $1 AND payment_id = $2`,
		processor, id, s.stamp())
	if err != nil {
		return fmt.Errorf("recording the check of %s's refunds: %w", id, err)
	}
	return nil
}

// PaymentKnown reports whether paidup has recorded a payment.
func (s *Store) PaymentKnown(ctx context.Context, processor, id string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM payments WHERE processor = $1 AND payment_id = $2`, processor, id).Scan(&n)
	return n > 0, err
}

const paymentColumns = `processor, payment_id, customer_id, checkout_reference, checkout_id, plan_id,
		amount, currency, amount_refunded, status, paid_at,
		COALESCE((SELECT min(d.reference) FROM disputes d WHERE d.processor = payments.processor AND d.payment_id = payments.payment_id), '')`

// Payments lists a customer's payments, newest first.
func (s *Store) Payments(ctx context.Context, customerID string) ([]paidup.Payment, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE customer_id = $1 ORDER BY paid_at DESC`, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing payments: %w", err)
	}
	return scanPayments(rows)
}

// scanPayments reads rows of paymentColumns, and closes them.
func scanPayments(rows *sql.Rows) ([]paidup.Payment, error) {
	defer rows.Close()
	var out []paidup.Payment
	for rows.Next() {
		var p paidup.Payment
		var ref, checkout sql.NullString
		if err := rows.Scan(&p.Processor, &p.ID, &p.CustomerID, &ref, &checkout, &p.PlanID, &p.Amount.Amount, &p.Amount.Currency,
			&p.AmountRefunded, &p.Status, &p.PaidAt, &p.DisputeReference); err != nil {
			return nil, fmt.Errorf("listing payments: %w", err)
		}
		p.CheckoutReference, p.CheckoutID, p.PaidAt = ref.String, checkout.String, p.PaidAt.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetEarlyRefund keeps how much of a payment paidup has not recorded yet
// the processor has refunded, until the payment is recorded (see
// TakeEarlyRefund); 0 forgets it.
func (tx *Tx) SetEarlyRefund(ctx context.Context, processor, paymentID string, refunded int64) error {
	var err error
	if refunded == 0 {
		_, err = tx.tx.ExecContext(ctx, `DELETE FROM early_refunds WHERE processor = $1 AND payment_id = $2`, processor, paymentID)
	} else {
		_, err = tx.tx.ExecContext(ctx, `INSERT INTO early_refunds (processor, payment_id, amount_refunded, recorded_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (processor, payment_id) DO UPDATE SET
			amount_refunded = excluded.amount_refunded, recorded_at = excluded.recorded_at
			WHERE early_refunds.amount_refunded <> excluded.amount_refunded`,
			processor, paymentID, refunded, tx.now)
	}
	if err != nil {
		return fmt.Errorf("recording the refunds of %s: %w", paymentID, err)
	}
	return nil
}

// EarlyRefund returns how much of a payment paidup has not recorded yet
// the processor has refunded (see SetEarlyRefund); 0 if nothing.
func (s *Store) EarlyRefund(ctx context.Context, processor, paymentID string) (int64, error) {
	var n int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT amount_refunded FROM early_refunds WHERE processor = $1 AND payment_id = $2`,
		processor, paymentID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the early refund of %s: %w", paymentID, err)
	}
	return n, nil
}

// TakeEarlyRefund returns how much of a payment was refunded before paidup
// recorded it (0 if nothing was), and forgets it: from now on the
// payment's own record says.
func (tx *Tx) TakeEarlyRefund(ctx context.Context, processor, paymentID string) (int64, error) {
	var n int64
	err := tx.tx.QueryRowContext(ctx, `DELETE FROM early_refunds WHERE processor = $1 AND payment_id = $2 RETURNING amount_refunded`,
		processor, paymentID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the early refund of %s: %w", paymentID, err)
	}
	return n, nil
}
