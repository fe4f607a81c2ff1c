package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// InsertGrant records a grant unless its source already granted; a source
// grants at most once. It returns the grant that exists afterwards and
// whether it is new.
func (tx *Tx) InsertGrant(ctx context.Context, g paidup.Grant) (paidup.Grant, bool, error) {
	g.ID = newID("gr")
	g.CreatedAt = tx.now
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO grants
		(id, customer_id, tier, plan_id, source, source_ref, starts_at, ends_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source, source_ref) DO NOTHING`,
		g.ID, g.CustomerID, g.Tier, g.PlanID, g.Source, g.SourceRef, ts(g.Start), nullTime(g.End), g.CreatedAt)
	if err != nil {
		return g, false, fmt.Errorf("recording grant for %s: %w", g.SourceRef, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		g.Start = ts(g.Start)
		if !g.End.IsZero() {
			g.End = ts(g.End)
		}
		return g, true, nil
	}
	existing, err := grantBySource(ctx, tx.tx, g.Source, g.SourceRef)
	return existing, false, err
}

// GrantBySource reads the grant resting on a source, if any.
func (tx *Tx) GrantBySource(ctx context.Context, source, ref string) (paidup.Grant, bool, error) {
	g, err := grantBySource(ctx, tx.tx, source, ref)
	if err == sql.ErrNoRows {
		return g, false, nil
	}
	return g, err == nil, err
}

// RevokeGrant ends a grant early, with a reason. Revoking twice keeps the
// first revocation.
func (tx *Tx) RevokeGrant(ctx context.Context, id, reason string) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL`,
		id, tx.now, reason)
	if err != nil {
		return false, fmt.Errorf("revoking grant %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RestoreGrant gives back a grant revoked for reason, as if it had never
// been revoked: the cause of its revocation turned out not to hold (a
// refund that failed). A grant revoked for another reason stays revoked.
// It reports whether the grant was restored.
func (tx *Tx) RestoreGrant(ctx context.Context, id, reason string) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE grants SET revoked_at = NULL, revoke_reason = '' WHERE id = $1 AND revoked_at IS NOT NULL AND revoke_reason = $2`,
		id, reason)
	if err != nil {
		return false, fmt.Errorf("restoring grant %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const grantColumns = `id, customer_id, tier, plan_id, source, source_ref, starts_at, ends_at, revoked_at, revoke_reason, created_at`

func scanGrant(row interface{ Scan(...any) error }) (paidup.Grant, error) {
	var g paidup.Grant
	var end, revoked sql.NullTime
	err := row.Scan(&g.ID, &g.CustomerID, &g.Tier, &g.PlanID, &g.Source, &g.SourceRef, &g.Start, &end, &revoked, &g.RevokeReason, &g.CreatedAt)
	g.Start, g.CreatedAt = g.Start.UTC(), g.CreatedAt.UTC()
	g.End, g.Revoked = timeOf(end), timeOf(revoked)
	return g, err
}

func grantBySource(ctx context.Context, q sqldb.Queryer, source, ref string) (paidup.Grant, error) {
	return scanGrant(q.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE source = $1 AND source_ref = $2`, source, ref))
}

// Grant reads one grant; found is false if there is none with id.
func (s *Store) Grant(ctx context.Context, id string) (g paidup.Grant, found bool, err error) {
	g, err = scanGrant(s.db.Read.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("reading grant %s: %w", id, err)
	}
	return g, true, nil
}

// Grants lists a customer's grants, oldest first.
func (s *Store) Grants(ctx context.Context, customerID string) ([]paidup.Grant, error) {
	return grants(ctx, s.db.Read, customerID)
}

func grants(ctx context.Context, q sqldb.Queryer, customerID string) ([]paidup.Grant, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE customer_id = $1 ORDER BY created_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing grants: %w", err)
	}
	defer rows.Close()
	var out []paidup.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("listing grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ActiveBlocks lists the blocks holding on a customer in the transaction.
func (tx *Tx) ActiveBlocks(ctx context.Context, customerID string) ([]paidup.Block, error) {
	bs, err := blocks(ctx, tx.tx, customerID)
	var active []paidup.Block
	for _, b := range bs {
		if b.ActiveAt(tx.now) {
			active = append(active, b)
		}
	}
	return active, err
}

// Blocks lists a customer's blocks, lifted or not.
func (s *Store) Blocks(ctx context.Context, customerID string) ([]paidup.Block, error) {
	return blocks(ctx, s.db.Read, customerID)
}

func blocks(ctx context.Context, q sqldb.Queryer, customerID string) ([]paidup.Block, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, customer_id, source, source_ref, reason, created_at, lifted_at, lifted_by, lift_reason
		FROM blocks WHERE customer_id = $1 ORDER BY created_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing blocks: %w", err)
	}
	defer rows.Close()
	var out []paidup.Block
	for rows.Next() {
		var b paidup.Block
		var lifted sql.NullTime
		if err := rows.Scan(&b.ID, &b.CustomerID, &b.Source, &b.SourceRef, &b.Reason, &b.CreatedAt, &lifted, &b.LiftedBy, &b.LiftReason); err != nil {
			return nil, fmt.Errorf("listing blocks: %w", err)
		}
		b.CreatedAt, b.Lifted = b.CreatedAt.UTC(), timeOf(lifted)
		out = append(out, b)
	}
	return out, rows.Err()
}
