-- +goose Up
-- A processed event's payload is pruned after the retention
-- (retention.event_payloads); the row, and so its id for deduplication,
-- stays. The index holds only the events whose payload may yet be pruned,
-- so each batch of the pruning job finds its rows without a scan, and
-- leaves the index as it prunes them.
ALTER TABLE webhook_events ADD COLUMN payload_pruned_at TIMESTAMPTZ;
CREATE INDEX webhook_events_prunable ON webhook_events (received_at)
    WHERE payload_pruned_at IS NULL AND processed_at IS NOT NULL;

-- +goose Down
DROP INDEX webhook_events_prunable;
ALTER TABLE webhook_events DROP COLUMN payload_pruned_at;
