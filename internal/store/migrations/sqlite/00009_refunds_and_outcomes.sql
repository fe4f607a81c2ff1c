-- +goose Up
-- What processing an event came to when it was not acted on: 'not_applicable'
-- when the processor has no such object (a forged, test or stale event).
-- NULL for the rest, so that the common case writes nothing more.
ALTER TABLE webhook_events ADD COLUMN outcome TEXT;

-- When paidup last confirmed a refunded payment's refunds with the
-- processor: the reconciler re-reads recently refunded payments, since a
-- refund that succeeded may fail later.
ALTER TABLE payments ADD COLUMN refunds_checked_at TIMESTAMP;
CREATE INDEX payments_refunded ON payments (updated_at) WHERE amount_refunded > 0 OR status = 'refunded';

-- +goose Down
DROP INDEX payments_refunded;
ALTER TABLE payments DROP COLUMN refunds_checked_at;
ALTER TABLE webhook_events DROP COLUMN outcome;
