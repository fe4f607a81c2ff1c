-- +goose Up
-- The inbox's order, in an index of the open cases alone: its first page
-- is read from the start of this index instead of sorting every open
-- case (the expressions are the inbox's ORDER BY, as store.Inbox writes
-- them).
CREATE INDEX support_cases_inbox ON support_cases (
    (CASE WHEN waiting_since IS NULL THEN 0 ELSE 1 END), (CASE WHEN amount > 0 THEN 0 ELSE 1 END), created_at, id
) WHERE status = 'open';

-- The open cases counted by kind and summed by currency (store.CaseGroups)
-- from this index alone, in its order, without reading the cases.
CREATE INDEX support_cases_open_kind ON support_cases (kind, currency, amount, created_at) WHERE status = 'open';

-- +goose Down
DROP INDEX support_cases_open_kind;
DROP INDEX support_cases_inbox;
