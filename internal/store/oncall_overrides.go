package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// OnCallOverride is a person on call instead of the rotation from Start
// until End, set in the console.
type OnCallOverride struct {
	ID         string
	Who        string
	Start, End time.Time
	Reason     string
	CreatedBy  string
	CreatedAt  time.Time
}

// AddOnCallOverride records an override in the transaction.
func (tx *Tx) AddOnCallOverride(ctx context.Context, o OnCallOverride) (OnCallOverride, error) {
	o.ID, o.CreatedAt = newID("ov"), tx.now
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO oncall_overrides (id, who, starts_at, ends_at, reason, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, o.ID, o.Who, ts(o.Start), ts(o.End), o.Reason, o.CreatedBy, o.CreatedAt)
	if err != nil {
		return o, fmt.Errorf("recording an on-call override: %w", err)
	}
	return o, nil
}

// RemoveOnCallOverride removes an override, reporting whether it was in
// force or to come.
func (tx *Tx) RemoveOnCallOverride(ctx context.Context, id, by string) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE oncall_overrides SET removed_by = $1, removed_at = $2 WHERE id = $3 AND removed_at IS NULL`, by, tx.now, id)
	if err != nil {
		return false, fmt.Errorf("removing on-call override %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// OnCallOverrides lists the overrides not removed that end after t,
// newest set first: the one set last wins where two overlap.
func (tx *Tx) OnCallOverrides(ctx context.Context, t time.Time) ([]OnCallOverride, error) {
	return overrides(ctx, tx.tx, t)
}

// OnCallOverrides lists the overrides not removed that end after t,
// newest set first.
func (s *Store) OnCallOverrides(ctx context.Context, t time.Time) ([]OnCallOverride, error) {
	return overrides(ctx, s.db.Read, t)
}

func overrides(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, t time.Time) ([]OnCallOverride, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, who, starts_at, ends_at, reason, created_by, created_at FROM oncall_overrides
		WHERE removed_at IS NULL AND ends_at > $1 ORDER BY created_at DESC, id DESC`, ts(t))
	if err != nil {
		return nil, fmt.Errorf("listing on-call overrides: %w", err)
	}
	defer rows.Close()
	var out []OnCallOverride
	for rows.Next() {
		var o OnCallOverride
		if err := rows.Scan(&o.ID, &o.Who, &o.Start, &o.End, &o.Reason, &o.CreatedBy, &o.CreatedAt); err != nil {
			return nil, fmt.Errorf("listing on-call overrides: %w", err)
		}
		o.Start, o.End, o.CreatedAt = o.Start.UTC(), o.End.UTC(), o.CreatedAt.UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// RecentAlerts lists the alerts open or last seen after since, newest
// first, at most limit.
func (s *Store) RecentAlerts(ctx context.Context, since time.Time, limit int) ([]paidup.Alert, error) {
	return alerts(ctx, s.db.Read, `WHERE state <> $1 OR last_seen > $2 ORDER BY first_seen DESC, id DESC LIMIT $3`, paidup.AlertResolved, ts(since), limit)
}
