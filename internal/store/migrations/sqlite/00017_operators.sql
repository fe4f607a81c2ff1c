-- +goose Up
-- The people who run support, added and removed from the command line.
-- Only the password's argon2id hash is kept. The TOTP secret is kept as it
-- is, as the code cannot be checked without it; totp_step is the last
-- time step a code was accepted for, so that a code is good once.
CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    totp_secret   TEXT NOT NULL,
    totp_step     INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- One-use recovery codes, by their SHA-256 hash.
CREATE TABLE operator_recovery_codes (
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TIMESTAMP,
    PRIMARY KEY (operator_id, code_hash)
);

-- Operators' sessions, by the SHA-256 hash of the cookie's token. A
-- session is 'password' between the password and the second factor, and
-- opens the console only once 'signed_in'. It ends at expires_at, or
-- when unused for the idle lifetime after seen_at.
CREATE TABLE operator_sessions (
    token_hash  TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    stage       TEXT NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    seen_at     TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

-- The console's customer page reads a customer's checkouts (for the
-- timeline entries from before paidup knew who they were) and open cases.
CREATE INDEX checkout_attempts_customer ON checkout_attempts (customer_id);
CREATE INDEX support_cases_customer ON support_cases (customer_id, status);

-- +goose Down
DROP INDEX support_cases_customer;
DROP INDEX checkout_attempts_customer;
DROP TABLE operator_sessions;
DROP TABLE operator_recovery_codes;
DROP TABLE operators;
