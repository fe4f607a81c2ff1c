-- +goose Up
-- Support's search: the emails of customers and of checkouts, by any
-- part of them (three characters or more), in a full-text index of
-- trigrams. A customer's row has its id; a checkout's has its reference
-- and is shown while the checkout has no customer (a payment not yet
-- fulfilled, a checkout abandoned). The index has rowids of its own: the
-- customers table has no integer key, and VACUUM renumbers the rowids
-- of such a table. Triggers keep it as the rows are written.
CREATE VIRTUAL TABLE search_emails USING fts5 (
    email, customer_id UNINDEXED, reference UNINDEXED,
    tokenize = 'trigram'
);
INSERT INTO search_emails (email, customer_id, reference) SELECT email, id, '' FROM customers;
INSERT INTO search_emails (email, customer_id, reference) SELECT email, '', reference FROM checkout_attempts;

-- +goose StatementBegin
CREATE TRIGGER search_customer_added AFTER INSERT ON customers BEGIN
    INSERT INTO search_emails (email, customer_id, reference) VALUES (new.email, new.id, '');
END;
-- +goose StatementEnd
-- An email is changed only by an upgrade's renormalisation; its old row
-- is found by the index itself.
-- +goose StatementBegin
CREATE TRIGGER search_customer_changed AFTER UPDATE OF email ON customers BEGIN
    DELETE FROM search_emails WHERE search_emails MATCH '"' || replace(old.email, '"', '""') || '"' AND customer_id = old.id;
    INSERT INTO search_emails (email, customer_id, reference) VALUES (new.email, new.id, '');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER search_attempt_added AFTER INSERT ON checkout_attempts BEGIN
    INSERT INTO search_emails (email, customer_id, reference) VALUES (new.email, '', new.reference);
END;
-- +goose StatementEnd

-- Refund and charge ids are known to paidup only from the timeline's
-- data (a refund's entry, a dispute's): indexed there, for only the
-- entries that name one.
CREATE INDEX timeline_refund ON timeline (json_extract(data, '$.refund')) WHERE data LIKE '%"refund":%';
CREATE INDEX timeline_charge ON timeline (json_extract(data, '$.charge')) WHERE data LIKE '%"charge":%';

-- The open cases, a page at a time in the order they were opened.
CREATE INDEX support_cases_open ON support_cases (created_at, id) WHERE status = 'open';

-- +goose Down
DROP INDEX support_cases_open;
DROP INDEX timeline_charge;
DROP INDEX timeline_refund;
DROP TRIGGER search_attempt_added;
DROP TRIGGER search_customer_changed;
DROP TRIGGER search_customer_added;
DROP TABLE search_emails;
