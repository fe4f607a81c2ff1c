package store

import (
	"context"
	"fmt"
	"time"
)

// PruneEventPayloads empties the stored payloads of up to limit events
// received before before and already processed, oldest first, and reports
// how many it pruned. The events' rows stay: their ids keep deduplicating
// redeliveries, and their type, object and times, like the timeline, keep
// what support needs. Events not yet processed keep their payloads,
// however old. One call is one short statement, so that pruning many, a
// batch at a time, holds the writer (SQLite's only one) briefly each time.
func (s *Store) PruneEventPayloads(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE webhook_events SET payload = $1, payload_pruned_at = $2
		WHERE (processor, event_id) IN (
			SELECT processor, event_id FROM webhook_events
			WHERE payload_pruned_at IS NULL AND processed_at IS NOT NULL AND received_at < $3
			ORDER BY received_at LIMIT $4)`,
		[]byte{}, s.stamp(), ts(before), limit)
	if err != nil {
		return 0, fmt.Errorf("pruning event payloads: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("pruning event payloads: %w", err)
	}
	return int(n), nil
}
