-- +goose Up
-- The invoices of subscriptions paidup has told a customer about (a
-- renewal paid, a renewal that failed), each with a reference of paidup's
-- (PU-XXXX-XXXX) that the customer may quote and support can search: the
-- processor's own id and number stay out of what customers read.
CREATE TABLE invoices (
    processor       TEXT NOT NULL,
    invoice_id      TEXT NOT NULL,
    reference       TEXT NOT NULL UNIQUE,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    subscription_id TEXT NOT NULL,
    plan_id         TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    -- 'failed' while a renewal is unpaid, 'paid' once it is, with its
    -- payment.
    status          TEXT NOT NULL,
    payment_id      TEXT,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (processor, invoice_id)
);
CREATE INDEX invoices_customer ON invoices (customer_id);
CREATE INDEX invoices_payment ON invoices (processor, payment_id);

-- How many times the subscription has been set to end with its period:
-- each cancellation, and each undoing of one, is told to the customer
-- once, by its number.
ALTER TABLE subscriptions ADD COLUMN cancellations INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN cancellations;
DROP TABLE invoices;
