-- +goose Up
-- The status page's address carries a long random token, not only the
-- short reference. Only its hash is kept for good; the token itself is
-- kept until the processor's checkout is recorded, because the request
-- that creates the checkout carries it and must be repeatable exactly
-- until then. Attempts from before have neither.
ALTER TABLE checkout_attempts ADD COLUMN status_token TEXT;
ALTER TABLE checkout_attempts ADD COLUMN status_token_hash TEXT;
-- A second submit of the same email and plan finds the open checkout.
CREATE INDEX checkout_attempts_buyer ON checkout_attempts (email, plan_id, created_at);

-- +goose Down
DROP INDEX checkout_attempts_buyer;
ALTER TABLE checkout_attempts DROP COLUMN status_token_hash;
ALTER TABLE checkout_attempts DROP COLUMN status_token;
