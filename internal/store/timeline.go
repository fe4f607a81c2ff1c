package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/paidup/paidup"
)

// Append adds a fact to the timeline, when the transaction commits.
// Nothing edits it afterwards. The facts a transaction appends are written
// together at its end, in the order appended, in as few statements as
// possible: a fulfilment appends several.
func (tx *Tx) Append(ctx context.Context, e paidup.TimelineEntry) error {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return err
	}
	if e.Data == nil {
		data = []byte("{}")
	}
	tx.timeline = append(tx.timeline, []any{nullString(e.CustomerID), e.Reference, tx.now, e.Kind, e.Source, e.Summary, string(data)})
	return nil
}

// flushTimeline writes the facts appended in the transaction.
func (tx *Tx) flushTimeline(ctx context.Context) error {
	rows := tx.timeline
	tx.timeline = nil
	for len(rows) > 0 {
		// Chunks of a power of two rows keep the statements few and cached.
		n := 1
		for n*2 <= len(rows) && n < 64 {
			n *= 2
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO timeline (customer_id, reference, at, kind, source, summary, data) VALUES `)
		args := make([]any, 0, 7*n)
		for i, r := range rows[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			p := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", p+1, p+2, p+3, p+4, p+5, p+6, p+7)
			args = append(args, r...)
		}
		if _, err := tx.tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("appending to timeline: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// Append adds a fact to the timeline in a transaction of its own.
func (s *Store) Append(ctx context.Context, e paidup.TimelineEntry) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.Append(ctx, e) })
}

// Timeline lists the facts about a customer — including those recorded
// about their checkouts before paidup knew who they were — or about a
// checkout reference when customerID is empty, oldest first.
func (s *Store) Timeline(ctx context.Context, customerID, reference string) ([]paidup.TimelineEntry, error) {
	q, arg := `SELECT id, customer_id, reference, at, kind, source, summary, data FROM timeline
		WHERE customer_id = $1 OR (customer_id IS NULL AND reference IN (SELECT reference FROM checkout_attempts WHERE customer_id = $1))
		ORDER BY id`, customerID
	if customerID == "" {
		q, arg = `SELECT id, customer_id, reference, at, kind, source, summary, data FROM timeline WHERE reference = $1 ORDER BY id`, reference
	}
	rows, err := s.db.Read.QueryContext(ctx, q, arg)
	if err != nil {
		return nil, fmt.Errorf("reading timeline: %w", err)
	}
	defer rows.Close()
	var out []paidup.TimelineEntry
	for rows.Next() {
		var e paidup.TimelineEntry
		var customer *string
		var data string
		if err := rows.Scan(&e.ID, &customer, &e.Reference, &e.At, &e.Kind, &e.Source, &e.Summary, &data); err != nil {
			return nil, fmt.Errorf("reading timeline: %w", err)
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
