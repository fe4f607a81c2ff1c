-- +goose Up
-- Every sandbox object (customers, sessions, payments, events, webhook
-- deliveries, idempotency records) as a JSON document in creation order.
CREATE TABLE sandbox_objects (
    id     TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    seq    INTEGER NOT NULL UNIQUE,
    data   BLOB NOT NULL
);

-- +goose Down
DROP TABLE sandbox_objects;
