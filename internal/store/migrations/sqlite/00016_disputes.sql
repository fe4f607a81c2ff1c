-- +goose Up
-- Chargebacks paidup knows of, mirrored from the processor, each with a
-- reference of paidup's (PU-…) that the customer is told and support
-- looks them up by. A payment with a dispute is shown as disputed.
CREATE TABLE disputes (
    processor   TEXT NOT NULL,
    dispute_id  TEXT NOT NULL,
    reference   TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    payment_id  TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    -- When the bank opened it, as the processor says.
    created_at  TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (processor, dispute_id)
);
CREATE INDEX disputes_payment ON disputes (processor, payment_id);
CREATE INDEX disputes_customer ON disputes (customer_id);

-- +goose Down
DROP TABLE disputes;
