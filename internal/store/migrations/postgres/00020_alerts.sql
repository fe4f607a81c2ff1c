-- +goose Up
-- On call: the alerts paidup raises from its own state, one row per
-- problem while it lasts (a problem that clears and comes back is a new
-- alert), and every notification sent about each.
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    -- Alerts about one problem share a key ("unfulfilled",
    -- "case:dispute"); one alert is open per key.
    alert_key       TEXT NOT NULL,
    rule            TEXT NOT NULL,
    severity        TEXT NOT NULL,
    -- firing, acknowledged or resolved.
    state           TEXT NOT NULL,
    summary         TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    -- How many instances of the problem there are now ("12 payments").
    instances       BIGINT NOT NULL,
    first_seen      TIMESTAMPTZ NOT NULL,
    last_seen       TIMESTAMPTZ NOT NULL,
    acknowledged_by TEXT NOT NULL DEFAULT '',
    acknowledged_at TIMESTAMPTZ,
    resolved_at     TIMESTAMPTZ,
    -- When the next page is due; NULL: none (a warning, acknowledged or
    -- resolved).
    next_notify_at  TIMESTAMPTZ,
    -- 0: the person on call was paged; 1: the other person too.
    escalation      INTEGER NOT NULL DEFAULT 0,
    notifications   INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alerts_open_key ON alerts (alert_key) WHERE state <> 'resolved';
CREATE INDEX alerts_last_seen ON alerts (severity, last_seen);

-- One row per notification about an alert (page, escalation, repeat,
-- resolved), numbered: the number is what makes two evaluators at once
-- send it once.
CREATE TABLE alert_notifications (
    alert_id   TEXT NOT NULL REFERENCES alerts (id),
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    recipients TEXT NOT NULL,
    summary    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, seq)
);

-- What on call shares between instances: the key that signs
-- acknowledgement links, and how far the daily digest has reported.
CREATE TABLE oncall_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    ack_key        TEXT NOT NULL DEFAULT '',
    evaluated_at   TIMESTAMPTZ,
    digest_through TIMESTAMPTZ
);
INSERT INTO oncall_state (id) VALUES (1);

-- +goose Down
DROP TABLE oncall_state;
DROP TABLE alert_notifications;
DROP TABLE alerts;
