-- +goose Up
-- Who is on call instead of the rotation, from a time until a time, as a
-- person set it in the console (the config's overrides are read from the
-- config). An override removed stays, with who removed it.
CREATE TABLE oncall_overrides (
    id         TEXT PRIMARY KEY,
    who        TEXT NOT NULL,
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    removed_by TEXT NOT NULL DEFAULT '',
    removed_at TIMESTAMPTZ
);
CREATE INDEX oncall_overrides_ends ON oncall_overrides (ends_at) WHERE removed_at IS NULL;

-- +goose Down
DROP TABLE oncall_overrides;
