-- +goose Up
-- Customers are matched by normalised email and by processor customer id.
CREATE TABLE customers (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE processor_customers (
    processor    TEXT NOT NULL,
    processor_id TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    PRIMARY KEY (processor, processor_id)
);
CREATE INDEX processor_customers_customer ON processor_customers (customer_id);

-- Payments paidup knows of, mirrored from the processor. Every succeeded
-- payment maps to exactly one grant or one refund (paidup check).
CREATE TABLE payments (
    processor          TEXT NOT NULL,
    payment_id         TEXT NOT NULL,
    customer_id        TEXT NOT NULL REFERENCES customers (id),
    checkout_reference TEXT,
    checkout_id        TEXT,
    plan_id            TEXT NOT NULL,
    amount             BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    amount_refunded    BIGINT NOT NULL DEFAULT 0,
    status             TEXT NOT NULL,
    paid_at            TIMESTAMPTZ NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (processor, payment_id)
);
CREATE INDEX payments_customer ON payments (customer_id);
CREATE INDEX payments_checkout ON payments (checkout_reference);

-- A grant rests on one source, and a source grants once.
CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    tier          TEXT NOT NULL,
    plan_id       TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL,
    source_ref    TEXT NOT NULL,
    starts_at     TIMESTAMPTZ NOT NULL,
    ends_at       TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    revoke_reason TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (source, source_ref)
);
CREATE INDEX grants_customer ON grants (customer_id);

CREATE TABLE blocks (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    source      TEXT NOT NULL,
    source_ref  TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    lifted_at   TIMESTAMPTZ,
    lifted_by   TEXT NOT NULL DEFAULT '',
    lift_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX blocks_customer ON blocks (customer_id);

-- Every fact about a customer, appended, never edited.
CREATE TABLE timeline (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id TEXT REFERENCES customers (id),
    reference   TEXT NOT NULL DEFAULT '',
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_customer ON timeline (customer_id, id);
CREATE INDEX timeline_reference ON timeline (reference, id);

-- Emails paidup sends. dedupe_key makes each email exist once (one
-- confirmation per grant); id is the stable Message-ID.
CREATE TABLE emails (
    id          TEXT PRIMARY KEY,
    dedupe_key  TEXT NOT NULL UNIQUE,
    customer_id TEXT REFERENCES customers (id),
    kind        TEXT NOT NULL,
    to_address  TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    queued_at   TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ
);
CREATE INDEX emails_customer ON emails (customer_id);

-- Single-use sign-in links; only a hash of the token is kept.
CREATE TABLE sign_in_links (
    token_hash  TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX sign_in_links_customer ON sign_in_links (customer_id);

CREATE TABLE account_sessions (
    token_hash  TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- What paidup could not repair by itself, for a person.
CREATE TABLE support_cases (
    id          TEXT PRIMARY KEY,
    dedupe_key  TEXT NOT NULL UNIQUE,
    customer_id TEXT REFERENCES customers (id),
    reference   TEXT NOT NULL DEFAULT '',
    payment_id  TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolved_by TEXT NOT NULL DEFAULT '',
    resolution  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX support_cases_status ON support_cases (status, created_at);

-- Where each reconciler sweep of the processor's records has got to.
CREATE TABLE sweep_cursors (
    name       TEXT PRIMARY KEY,
    position   TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The reconciler re-checks unfinished checkouts on a schedule.
ALTER TABLE checkout_attempts ADD COLUMN customer_id TEXT REFERENCES customers (id);
ALTER TABLE checkout_attempts ADD COLUMN payment_id TEXT;
ALTER TABLE checkout_attempts ADD COLUMN checks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE checkout_attempts ADD COLUMN next_check_at TIMESTAMPTZ;
ALTER TABLE checkout_attempts ADD COLUMN resolved_at TIMESTAMPTZ;
CREATE INDEX checkout_attempts_next_check ON checkout_attempts (next_check_at);

-- +goose Down
DROP INDEX checkout_attempts_next_check;
ALTER TABLE checkout_attempts DROP COLUMN resolved_at;
ALTER TABLE checkout_attempts DROP COLUMN next_check_at;
ALTER TABLE checkout_attempts DROP COLUMN checks;
ALTER TABLE checkout_attempts DROP COLUMN payment_id;
ALTER TABLE checkout_attempts DROP COLUMN customer_id;
DROP TABLE sweep_cursors;
DROP TABLE support_cases;
DROP TABLE account_sessions;
DROP TABLE sign_in_links;
DROP TABLE emails;
DROP TABLE timeline;
DROP TABLE blocks;
DROP TABLE grants;
DROP TABLE payments;
DROP TABLE processor_customers;
DROP TABLE customers;
