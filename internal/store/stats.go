package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// Stats is a snapshot of paidup's state for monitoring.
type Stats struct {
	// UnresolvedCheckouts counts checkouts whose outcome paidup does not
	// know yet; OldestUnresolved is the age of the oldest.
	UnresolvedCheckouts int64
	OldestUnresolved    time.Duration
	OpenCases           map[string]int64 // by kind
	Emails              map[string]int64 // by status
	Jobs                map[string]int64 // by River state
}

// Stats reads the monitoring snapshot.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{OpenCases: map[string]int64{}, Emails: map[string]int64{}, Jobs: map[string]int64{}}
	q := s.db.Read
	var oldest aggregateTime
	err := q.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM checkout_attempts WHERE status IN ($1, $2)`,
		paidup.AttemptCreated, paidup.AttemptOpen).Scan(&st.UnresolvedCheckouts, &oldest)
	if err != nil {
		return st, fmt.Errorf("counting unresolved checkouts: %w", err)
	}
	if !oldest.IsZero() {
		st.OldestUnresolved = max(0, s.now().Sub(oldest.Time))
	}
	for _, g := range []struct {
		into  map[string]int64
		query string
		args  []any
	}{
		{st.OpenCases, `SELECT kind, count(*) FROM support_cases WHERE status = $1 GROUP BY kind`, []any{paidup.CaseOpen}},
		{st.Emails, `SELECT status, count(*) FROM emails GROUP BY status`, nil},
		{st.Jobs, `SELECT state, count(*) FROM river_job GROUP BY state`, nil},
	} {
		rows, err := q.QueryContext(ctx, g.query, g.args...)
		if err != nil {
			return st, fmt.Errorf("reading stats: %w", err)
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return st, err
			}
			g.into[k] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, err
		}
	}
	return st, nil
}
