package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
)

// Dispute reads a mirrored dispute; found is false if paidup has none.
func (s *Store) Dispute(ctx context.Context, processor, id string) (paidup.Dispute, bool, error) {
	d, err := scanDispute(s.db.Read.QueryRowContext(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE processor = $1 AND dispute_id = $2`,
		processor, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("reading dispute %s: %w", id, err)
	}
	return d, true, nil
}
