-- +goose Up
-- What the inbox needs to order and share open cases: the money at stake
-- (the payment's, or the checkout's when no payment is recorded), who is
-- working on a case, whether it is snoozed until a time, and whether it
-- waits on the customer's answer. status stays 'open' until resolved.
ALTER TABLE support_cases ADD COLUMN amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE support_cases ADD COLUMN currency TEXT NOT NULL DEFAULT '';
ALTER TABLE support_cases ADD COLUMN assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE support_cases ADD COLUMN snoozed_until TIMESTAMP;
ALTER TABLE support_cases ADD COLUMN waiting_since TIMESTAMP;

-- The money at stake of the cases already open: their payment's, else
-- their reference's (a checkout, an invoice, a chargeback).
UPDATE support_cases SET (amount, currency) = (
    SELECT amount, currency FROM (
        SELECT 1 AS rank, amount, currency FROM payments WHERE customer_id = support_cases.customer_id AND payment_id = support_cases.payment_id
        UNION ALL SELECT 2, amount, currency FROM checkout_attempts WHERE reference = support_cases.reference
        UNION ALL SELECT 3, amount, currency FROM invoices WHERE reference = support_cases.reference
        UNION ALL SELECT 4, amount, currency FROM disputes WHERE reference = support_cases.reference
    ) stakes ORDER BY rank LIMIT 1)
WHERE status = 'open' AND EXISTS (
    SELECT 1 FROM payments WHERE customer_id = support_cases.customer_id AND payment_id = support_cases.payment_id
    UNION ALL SELECT 1 FROM checkout_attempts WHERE reference = support_cases.reference
    UNION ALL SELECT 1 FROM invoices WHERE reference = support_cases.reference
    UNION ALL SELECT 1 FROM disputes WHERE reference = support_cases.reference);

-- +goose Down
ALTER TABLE support_cases DROP COLUMN waiting_since;
ALTER TABLE support_cases DROP COLUMN snoozed_until;
ALTER TABLE support_cases DROP COLUMN assignee;
ALTER TABLE support_cases DROP COLUMN currency;
ALTER TABLE support_cases DROP COLUMN amount;
