-- +goose Up
-- A checkout attempt is written before the customer is sent to pay; its
-- reference travels with the payment and is what customers and support quote.
CREATE TABLE checkout_attempts (
    reference             TEXT PRIMARY KEY,
    plan_id               TEXT NOT NULL,
    email                 TEXT NOT NULL,
    amount                BIGINT NOT NULL,
    currency              TEXT NOT NULL,
    processor             TEXT NOT NULL,
    processor_checkout_id TEXT UNIQUE,
    checkout_url          TEXT NOT NULL DEFAULT '',
    status                TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX checkout_attempts_status ON checkout_attempts (status, updated_at);

-- Every webhook paidup acknowledged, stored before the acknowledgement.
CREATE TABLE webhook_events (
    processor    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    type         TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    payload      BYTEA NOT NULL,
    processed_at TIMESTAMPTZ,
    PRIMARY KEY (processor, event_id)
);
CREATE INDEX webhook_events_object ON webhook_events (processor, object_id);

-- +goose Down
DROP TABLE webhook_events;
DROP TABLE checkout_attempts;
