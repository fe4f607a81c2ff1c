package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"

	"github.com/paidup/paidup"
)

// TimelinePage lists up to n facts about a customer, newest first, from
// before the entry before (0: from the newest): a page of the console's
// timeline, read by the entry ids so that a customer with ten thousand
// entries is as quick to page through as one with ten. Like Timeline it
// includes what was recorded about the customer's checkouts before paidup
// knew who they were.
func (s *Store) TimelinePage(ctx context.Context, customerID string, before int64, n int) ([]paidup.TimelineEntry, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	// The two halves each use an index, which one OR would not: the
	// customer's entries timeline_customer; those of their checkouts
	// checkout_attempts_customer, then timeline_reference. (The CROSS JOIN
	// keeps SQLite from reading every entry with no customer instead.)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, customer_id, reference, at, kind, source, summary, data FROM (
			SELECT id, customer_id, reference, at, kind, source, summary, data FROM timeline
			WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3) AS known
		UNION ALL
		SELECT id, customer_id, reference, at, kind, source, summary, data FROM (
			SELECT t.id, t.customer_id, t.reference, t.at, t.kind, t.source, t.summary, t.data FROM checkout_attempts a CROSS JOIN timeline t
			WHERE a.customer_id = $1 AND t.reference = a.reference AND t.customer_id IS NULL AND t.id < $2
			ORDER BY t.id DESC LIMIT $3) AS before_known
		ORDER BY id DESC LIMIT $3`, customerID, before, n)
	if err != nil {
		return nil, fmt.Errorf("reading timeline: %w", err)
	}
	defer rows.Close()
	var out []paidup.TimelineEntry
	for rows.Next() {
		var e paidup.TimelineEntry
		var customer sql.NullString
		var data string
		if err := rows.Scan(&e.ID, &customer, &e.Reference, &e.At, &e.Kind, &e.Source, &e.Summary, &data); err != nil {
			return nil, fmt.Errorf("reading timeline: %w", err)
		}
		e.CustomerID, e.At = customer.String, e.At.UTC()
		json.Unmarshal([]byte(data), &e.Data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// CustomerOpenCases lists a customer's open support cases, oldest first.
func (s *Store) CustomerOpenCases(ctx context.Context, customerID string) ([]paidup.SupportCase, error) {
	return scanCases(s.db.Read.QueryContext(ctx, `SELECT `+caseColumns+` FROM support_cases
		WHERE customer_id = $1 AND status = $2 ORDER BY created_at, id`, customerID, paidup.CaseOpen))
}
