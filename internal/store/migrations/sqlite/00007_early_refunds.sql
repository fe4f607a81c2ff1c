-- +goose Up
-- Refunds of payments paidup had not yet recorded (a renewal's refund
-- event ahead of the renewal's own): applied when the payment is recorded,
-- so that a payment refunded in full grants nothing.
CREATE TABLE early_refunds (
    processor       TEXT NOT NULL,
    payment_id      TEXT NOT NULL,
    amount_refunded INTEGER NOT NULL,
    recorded_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (processor, payment_id)
);

-- +goose Down
DROP TABLE early_refunds;
