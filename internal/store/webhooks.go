package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// WebhookEvent is a processor event as received.
type WebhookEvent struct {
	Processor  string
	ID         string
	Type       string
	ObjectType string
	ObjectID   string
	Created    time.Time // when the processor says it happened
	Payload    []byte
}

// RecordWebhookEvent stores a received event, once: a duplicate delivery of
// the same event id changes nothing and reports created false. The event is
// committed (and, on SQLite, synced to disk) when this returns, so the
// webhook may then be acknowledged.
func (s *Store) RecordWebhookEvent(ctx context.Context, ev WebhookEvent) (bool, error) {
	var created bool
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_events
			(processor, event_id, type, object_type, object_id, created_at, received_at, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (processor, event_id) DO NOTHING`,
			ev.Processor, ev.ID, ev.Type, ev.ObjectType, ev.ObjectID, ts(ev.Created), s.stamp(), ev.Payload)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("recording webhook event %s: %w", ev.ID, err)
	}
	return created, nil
}

// WebhookEventCount counts the events received from a processor.
func (s *Store) WebhookEventCount(ctx context.Context, processor string) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events WHERE processor = $1`, processor).Scan(&n)
	return n, err
}
