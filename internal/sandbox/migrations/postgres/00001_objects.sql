-- +goose Up
-- Every sandbox object (customers, sessions, payments, events, webhook
-- deliveries, idempotency records) as a JSON document in creation order.
CREATE TABLE sandbox_objects (
    id     TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    seq    BIGINT NOT NULL UNIQUE,
    data   BYTEA NOT NULL
);

-- +goose Down
DROP TABLE sandbox_objects;
