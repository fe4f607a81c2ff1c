-- +goose Up
-- Messages the local mailbox received over SMTP, one per Message-ID.
CREATE TABLE mailbox_messages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  TEXT NOT NULL UNIQUE,
    received_at TIMESTAMPTZ NOT NULL,
    mail_from   TEXT NOT NULL,
    rcpt_to     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    raw         BYTEA NOT NULL
);

-- +goose Down
DROP TABLE mailbox_messages;
