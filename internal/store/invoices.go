package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
)

const invoiceColumns = `processor, invoice_id, reference, customer_id, subscription_id, plan_id, amount, currency, status,
	payment_id, created_at, updated_at`

func scanInvoice(row interface{ Scan(...any) error }) (paidup.Invoice, error) {
	var in paidup.Invoice
	var payment sql.NullString
	err := row.Scan(&in.Processor, &in.ID, &in.Reference, &in.CustomerID, &in.SubscriptionID, &in.PlanID, &in.Amount.Amount,
		&in.Amount.Currency, &in.Status, &payment, &in.CreatedAt, &in.UpdatedAt)
	in.PaymentID, in.CreatedAt, in.UpdatedAt = payment.String, in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	return in, err
}

// PutInvoice records an invoice paidup tells a customer about, giving it
// a reference the first time, and its status and payment as they are now.
// CreatedAt, if set, is the invoice's own date (the processor's). It
// returns the invoice as recorded, reference included: one invoice
// keeps one reference, however often it is put.
func (tx *Tx) PutInvoice(ctx context.Context, in paidup.Invoice) (paidup.Invoice, error) {
	cur, err := scanInvoice(tx.tx.QueryRowContext(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE processor = $1 AND invoice_id = $2`,
		in.Processor, in.ID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		in.Reference, in.UpdatedAt = paidup.NewReference(), tx.now
		if in.CreatedAt.IsZero() {
			in.CreatedAt = tx.now
		}
		in.CreatedAt = ts(in.CreatedAt)
		_, err = tx.tx.ExecContext(ctx, `INSERT INTO invoices (`+invoiceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			in.Processor, in.ID, in.Reference, in.CustomerID, in.SubscriptionID, in.PlanID, in.Amount.Amount, in.Amount.Currency,
			in.Status, nullString(in.PaymentID), in.CreatedAt, tx.now)
		if err != nil {
			return in, fmt.Errorf("recording invoice %s: %w", in.ID, err)
		}
		return in, nil
	case err != nil:
		return in, fmt.Errorf("reading invoice %s: %w", in.ID, err)
	case cur.Status == in.Status && cur.PaymentID == in.PaymentID:
		return cur, nil
	}
	cur.Status, cur.PaymentID, cur.UpdatedAt = in.Status, in.PaymentID, tx.now
	if _, err := tx.tx.ExecContext(ctx, `UPDATE invoices SET status = $3, payment_id = $4, updated_at = $5
		WHERE processor = $1 AND invoice_id = $2`, cur.Processor, cur.ID, cur.Status, nullString(cur.PaymentID), tx.now); err != nil {
		return cur, fmt.Errorf("recording invoice %s: %w", in.ID, err)
	}
	return cur, nil
}

// InvoiceForUpdate reads an invoice paidup has recorded, in the
// transaction.
func (tx *Tx) InvoiceForUpdate(ctx context.Context, processor, id string) (paidup.Invoice, bool, error) {
	in, err := scanInvoice(tx.tx.QueryRowContext(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE processor = $1 AND invoice_id = $2`,
		processor, id))
	if errors.Is(err, sql.ErrNoRows) {
		return in, false, nil
	}
	if err != nil {
		return in, false, fmt.Errorf("reading invoice %s: %w", id, err)
	}
	return in, true, nil
}

// Invoices lists the invoices paidup has told a customer about, newest
// first.
func (s *Store) Invoices(ctx context.Context, customerID string) ([]paidup.Invoice, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE customer_id = $1
		ORDER BY created_at DESC, invoice_id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing invoices: %w", err)
	}
	defer rows.Close()
	var out []paidup.Invoice
	for rows.Next() {
		in, err := scanInvoice(rows)
		if err != nil {
			return nil, fmt.Errorf("listing invoices: %w", err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// InvoiceByReference finds an invoice by paidup's reference for it, as
// support is given it.
func (s *Store) InvoiceByReference(ctx context.Context, reference string) (paidup.Invoice, bool, error) {
	in, err := scanInvoice(s.db.Read.QueryRowContext(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE reference = $1`, reference))
	if errors.Is(err, sql.ErrNoRows) {
		return in, false, nil
	}
	if err != nil {
		return in, false, fmt.Errorf("reading invoice %s: %w", reference, err)
	}
	return in, true, nil
}

// DisputedPayments are the ids of a customer's payments that a chargeback
// has taken back or is taking back, by processor: what the customer's
// timeline says of their disputes.
func (s *Store) DisputedPayments(ctx context.Context, customerID string) (map[string]bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT data FROM timeline WHERE customer_id = $1 AND kind = $2`, customerID, paidup.EventDispute)
	if err != nil {
		return nil, fmt.Errorf("listing disputed payments: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("listing disputed payments: %w", err)
		}
		var d map[string]string
		if json.Unmarshal([]byte(data), &d) == nil && d["payment"] != "" {
			out[d["payment"]] = true
		}
	}
	return out, rows.Err()
}
