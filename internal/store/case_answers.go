package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
)

// CheckoutAttempt reads an attempt in the transaction, without locking it.
func (tx *Tx) CheckoutAttempt(ctx context.Context, ref string) (paidup.CheckoutAttempt, error) {
	return tx.s.checkoutAttempt(ctx, tx.tx, ref)
}

// ResolveCase resolves an open support case, recording who resolved it and
// how. It returns the case and whether it was open.
func (tx *Tx) ResolveCase(ctx context.Context, id, actor, resolution string) (paidup.SupportCase, bool, error) {
	c, err := tx.Case(ctx, id)
	if err != nil {
		return c, false, err
	}
	if c.Status != paidup.CaseOpen {
		return c, false, nil
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE support_cases SET status = $2, resolved_at = $3, resolved_by = $4, resolution = $5
		WHERE id = $1 AND status = $6`, id, paidup.CaseResolved, tx.now, actor, resolution, paidup.CaseOpen)
	if err != nil {
		return c, false, fmt.Errorf("resolving support case %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	c.Status, c.ResolvedAt = paidup.CaseResolved, tx.now
	return c, n == 1, nil
}

// CaseID is the id of the case opened with dedupeKey, open or not.
func (tx *Tx) CaseID(ctx context.Context, dedupeKey string) (string, bool, error) {
	var id string
	err := tx.tx.QueryRowContext(ctx, `SELECT id FROM support_cases WHERE dedupe_key = $1`, dedupeKey).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the support case %s: %w", dedupeKey, err)
	}
	return id, true, nil
}
