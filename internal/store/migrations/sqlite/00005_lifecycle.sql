-- +goose Up
-- Subscriptions paidup knows of, mirrored from the processor: what their
-- grants and deadlines are computed from.
CREATE TABLE subscriptions (
    processor            TEXT NOT NULL,
    subscription_id      TEXT NOT NULL,
    customer_id          TEXT NOT NULL REFERENCES customers (id),
    -- The processor's customer the subscription bills: whose card pays.
    processor_customer_id TEXT NOT NULL DEFAULT '',
    plan_id              TEXT NOT NULL,
    status               TEXT NOT NULL,
    period_start         TIMESTAMP NOT NULL,
    period_end           TIMESTAMP NOT NULL,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    ended_at             TIMESTAMP,
    -- The renewal invoice that failed and is not yet paid, and since when.
    failing_invoice      TEXT NOT NULL DEFAULT '',
    failing_since        TIMESTAMP,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL,
    PRIMARY KEY (processor, subscription_id)
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

-- Things due at a time: a reminder, the end of a grace, the end of a
-- paid period. Each also has a job scheduled at its due time; a periodic
-- sweep fires any a job missed. Firing deletes the row, in the
-- transaction of its effect, so a deadline fires once.
CREATE TABLE deadlines (
    id          TEXT PRIMARY KEY,
    dedupe_key  TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    subject     TEXT NOT NULL,
    due_at      TIMESTAMP NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX deadlines_due ON deadlines (due_at);
CREATE INDEX deadlines_subject ON deadlines (subject);

-- A dispute blocks once.
CREATE UNIQUE INDEX blocks_source_ref ON blocks (source, source_ref) WHERE source_ref <> '';

-- +goose Down
DROP INDEX blocks_source_ref;
DROP TABLE deadlines;
DROP TABLE subscriptions;
