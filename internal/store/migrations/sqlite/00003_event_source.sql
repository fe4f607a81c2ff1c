-- +goose Up
-- How an event reached paidup: by webhook, or read back from the processor
-- by the reconciler because its webhook never arrived.
ALTER TABLE webhook_events ADD COLUMN received_via TEXT NOT NULL DEFAULT 'webhook';

-- +goose Down
ALTER TABLE webhook_events DROP COLUMN received_via;
