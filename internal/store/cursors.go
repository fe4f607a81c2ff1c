package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SweepCursor reads where a reconciler sweep got to; "" if it never ran.
func (s *Store) SweepCursor(ctx context.Context, name string) (string, error) {
	var pos string
	err := s.db.Read.QueryRowContext(ctx, `SELECT position FROM sweep_cursors WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading sweep cursor %s: %w", name, err)
	}
	return pos, nil
}

// SetSweepCursor records where a reconciler sweep got to.
func (s *Store) SetSweepCursor(ctx context.Context, name, pos string) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO sweep_cursors (name, position, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`, name, pos, s.stamp())
	if err != nil {
		return fmt.Errorf("recording sweep cursor %s: %w", name, err)
	}
	return nil
}
