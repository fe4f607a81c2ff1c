package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/paidup/paidup"
)

// TimelinePage lists up to limit facts about a customer, newest first,
// older than the entry before (0: from the newest): a page of the
// customer's page. The next page is the one before the last entry's ID.
// Like Timeline it includes what was recorded about the customer's
// checkouts before paidup knew who they were. Each page is a few index
// reads, however long the timeline: the customer's entries by
// timeline_customer, their checkouts' by checkout_attempts_customer and
// timeline_reference (the CROSS JOIN keeps SQLite from reading every
// entry with no customer instead).
func (s *Store) TimelinePage(ctx context.Context, customerID string, before int64, limit int) ([]paidup.TimelineEntry, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, customer_id, reference, at, kind, source, summary, data FROM (
			SELECT * FROM (SELECT * FROM timeline WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3) AS own
			UNION ALL
			SELECT * FROM (SELECT t.* FROM checkout_attempts a CROSS JOIN timeline t
				WHERE a.customer_id = $1 AND t.reference = a.reference AND t.customer_id IS NULL AND t.id < $2 ORDER BY t.id DESC LIMIT $3) AS checkouts
		) AS entries ORDER BY id DESC LIMIT $3`, customerID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("reading timeline of %s: %w", customerID, err)
	}
	defer rows.Close()
	var out []paidup.TimelineEntry
	for rows.Next() {
		var e paidup.TimelineEntry
		var customer *string
		var data string
		if err := rows.Scan(&e.ID, &customer, &e.Reference, &e.At, &e.Kind, &e.Source, &e.Summary, &data); err != nil {
			return nil, fmt.Errorf("reading timeline of %s: %w", customerID, err)
		}
		if customer != nil {
			e.CustomerID = *customer
		}
		e.At = e.At.UTC()
		json.Unmarshal([]byte(data), &e.Data)
		out = append(out, e)
	}
	return out, rows.Err()
}
