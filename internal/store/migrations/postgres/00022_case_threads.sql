-- +goose Up
-- A support case's thread: the replies a person sent its customer and the
-- customer's answers, by email or on the web.
CREATE TABLE case_messages (
    id           TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL REFERENCES support_cases (id),
    -- out: a reply to the customer, written when it is queued; in: the
    -- customer's answer, written when it arrives.
    direction    TEXT NOT NULL,
    -- email or web.
    via          TEXT NOT NULL,
    from_address TEXT NOT NULL DEFAULT '',
    to_address   TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    -- Takes each message once: an answer's Message-ID (or its web form's
    -- id), a reply's email id.
    message_id   TEXT NOT NULL UNIQUE,
    -- A reply's email, and the person who sent it.
    email_id     TEXT NOT NULL DEFAULT '',
    actor        TEXT NOT NULL DEFAULT '',
    at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX case_messages_case ON case_messages (case_id, at);

-- The tokens of the reply addresses (reply+TOKEN@…) and web links
-- (/reply/TOKEN) that replies carry, each made when its reply is sent.
-- Only their hashes are kept: a copy of the database does not let anyone
-- read or answer a thread. Every token of a case leads to it for good.
CREATE TABLE case_reply_tokens (
    token_hash TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES support_cases (id),
    email_id   TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX case_reply_tokens_case ON case_reply_tokens (case_id);

-- A customer's answer to a resolved case opens a case that carries its
-- thread on: follows names the case it follows.
ALTER TABLE support_cases ADD COLUMN follows TEXT NOT NULL DEFAULT '';
CREATE INDEX support_cases_follows ON support_cases (follows) WHERE follows <> '';

-- The replies sent before: their emails hold what they said, the sign-in
-- link they carried written in words (the link itself was never kept).
-- A reply's data is read as JSON only once that placeholder, whose NUL
-- characters PostgreSQL's jsonb refuses, is replaced.
INSERT INTO case_messages (id, case_id, direction, via, to_address, subject, body, message_id, email_id, at)
SELECT 'cm_' || substr(e.id, 4), c.id, 'out', 'email', e.to_address, coalesce(e.d ->> 'subject', ''), coalesce(e.d ->> 'text', ''),
       e.id, e.id, e.queued_at
FROM (SELECT id, to_address, queued_at, replace(data, '\u0000sign-in-link\u0000', '[a sign-in link, in the email]')::jsonb AS d FROM emails WHERE kind = 'case_reply') e
JOIN support_cases c ON c.id = e.d ->> 'case';

-- +goose Down
DROP INDEX support_cases_follows;
ALTER TABLE support_cases DROP COLUMN follows;
DROP TABLE case_reply_tokens;
DROP TABLE case_messages;
