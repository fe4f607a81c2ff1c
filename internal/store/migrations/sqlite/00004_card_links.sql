-- +goose Up
-- Links in lifecycle emails that open the processor's page where a
-- customer updates their card. The token is the capability: it works for
-- one processor customer until it expires, as often as needed (a portal
-- session is short). Only a hash of the token is kept.
CREATE TABLE card_links (
    token_hash            TEXT PRIMARY KEY,
    customer_id           TEXT NOT NULL REFERENCES customers (id),
    processor             TEXT NOT NULL,
    processor_customer_id TEXT NOT NULL,
    email_id              TEXT NOT NULL DEFAULT '',
    created_at            TIMESTAMP NOT NULL,
    expires_at            TIMESTAMP NOT NULL,
    last_used_at          TIMESTAMP
);
CREATE INDEX card_links_customer ON card_links (customer_id);

-- +goose Down
DROP TABLE card_links;
