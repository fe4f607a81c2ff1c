-- +goose Up
-- Messages the local mailbox received over SMTP, one per Message-ID.
CREATE TABLE mailbox_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL UNIQUE,
    received_at TIMESTAMP NOT NULL,
    mail_from   TEXT NOT NULL,
    rcpt_to     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    raw         BLOB NOT NULL
);

-- +goose Down
DROP TABLE mailbox_messages;
