-- +goose Up
-- A chargeback cancels every deadline of its customer: without an index
-- that was a scan of the whole table (a million rows with a million
-- subscriptions), in the chargeback's transaction.
CREATE INDEX deadlines_customer ON deadlines (customer_id);

-- +goose Down
DROP INDEX deadlines_customer;
