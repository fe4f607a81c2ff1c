-- +goose Up
-- Support's search: the emails of customers and of checkouts, by any
-- part of them (three characters or more), through trigram indexes
-- (pg_trgm). A checkout's is searched while it has no customer (a
-- payment not yet fulfilled, a checkout abandoned). The extension is
-- trusted: a database's owner may create it (a managed PostgreSQL must
-- offer it; see docs/operations.md).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX customers_email_trgm ON customers USING gin (email gin_trgm_ops);
CREATE INDEX checkout_attempts_email_trgm ON checkout_attempts USING gin (email gin_trgm_ops) WHERE customer_id IS NULL;

-- Refund and charge ids are known to paidup only from the timeline's
-- data (a refund's entry, a dispute's): indexed there, for only the
-- entries that name one.
CREATE INDEX timeline_refund ON timeline (((data::jsonb) ->> 'refund')) WHERE data LIKE '%"refund":%';
CREATE INDEX timeline_charge ON timeline (((data::jsonb) ->> 'charge')) WHERE data LIKE '%"charge":%';

-- The open cases, a page at a time in the order they were opened.
CREATE INDEX support_cases_open ON support_cases (created_at, id) WHERE status = 'open';

-- +goose Down
DROP INDEX support_cases_open;
DROP INDEX timeline_charge;
DROP INDEX timeline_refund;
DROP INDEX checkout_attempts_email_trgm;
DROP INDEX customers_email_trgm;
