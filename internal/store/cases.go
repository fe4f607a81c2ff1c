package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/paidup/paidup"
)

// OpenCase opens a support case unless one with the same dedupe key exists.
// It returns the case and whether it is new.
func (tx *Tx) OpenCase(ctx context.Context, c paidup.SupportCase) (paidup.SupportCase, bool, error) {
	c.ID, c.Status, c.CreatedAt = newID("sc"), paidup.CaseOpen, tx.now
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO support_cases (id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING`,
		c.ID, c.DedupeKey, nullString(c.CustomerID), c.Reference, c.PaymentID, c.Kind, c.Summary, c.Status, c.CreatedAt)
	if err != nil {
		return c, false, fmt.Errorf("opening support case: %w", err)
	}
	n, _ := res.RowsAffected()
	return c, n == 1, nil
}

// OpenCases lists the open support cases, oldest first.
func (s *Store) OpenCases(ctx context.Context) ([]paidup.SupportCase, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at, resolved_at
		FROM support_cases WHERE status = $1 ORDER BY created_at, id`, paidup.CaseOpen)
	if err != nil {
		return nil, fmt.Errorf("listing support cases: %w", err)
	}
	defer rows.Close()
	var out []paidup.SupportCase
	for rows.Next() {
		var c paidup.SupportCase
		var customer sql.NullString
		var resolved sql.NullTime
		if err := rows.Scan(&c.ID, &c.DedupeKey, &customer, &c.Reference, &c.PaymentID, &c.Kind, &c.Summary, &c.Status, &c.CreatedAt, &resolved); err != nil {
			return nil, fmt.Errorf("listing support cases: %w", err)
		}
		c.CustomerID, c.CreatedAt, c.ResolvedAt = customer.String, c.CreatedAt.UTC(), timeOf(resolved)
		out = append(out, c)
	}
	return out, rows.Err()
}

// OpenCaseForReference reports whether a checkout has an open support case.
func (s *Store) OpenCaseForReference(ctx context.Context, ref string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM support_cases WHERE reference = $1 AND status = $2`, ref, paidup.CaseOpen).Scan(&n)
	return n > 0, err
}
