package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

const subscriptionColumns = `processor, subscription_id, customer_id, processor_customer_id, plan_id, status, period_start,
	period_end, cancel_at_period_end, ended_at, failing_invoice, failing_since, created_at, updated_at, cancellations`

func scanSubscription(row interface{ Scan(...any) error }) (paidup.Subscription, error) {
	var s paidup.Subscription
	var ended, failing sql.NullTime
	err := row.Scan(&s.Processor, &s.ID, &s.CustomerID, &s.ProcessorCustomerID, &s.PlanID, &s.Status, &s.PeriodStart, &s.PeriodEnd,
		&s.CancelAtPeriodEnd, &ended, &s.FailingInvoice, &failing, &s.CreatedAt, &s.UpdatedAt, &s.Cancellations)
	s.PeriodStart, s.PeriodEnd = s.PeriodStart.UTC(), s.PeriodEnd.UTC()
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	s.EndedAt, s.FailingSince = timeOf(ended), timeOf(failing)
	return s, err
}

// SubscriptionForUpdate reads a mirrored subscription and, on PostgreSQL,
// locks it until the transaction ends, so that two syncs of one
// subscription take turns.
func (tx *Tx) SubscriptionForUpdate(ctx context.Context, processor, id string) (paidup.Subscription, bool, error) {
	q := `SELECT ` + subscriptionColumns + ` FROM subscriptions WHERE processor = $1 AND subscription_id = $2`
	if tx.s.db.Engine == sqldb.Postgres {
		q += ` FOR UPDATE`
	}
	s, err := scanSubscription(tx.tx.QueryRowContext(ctx, q, processor, id))
	if err == sql.ErrNoRows {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("reading subscription %s: %w", id, err)
	}
	return s, true, nil
}

// PutSubscription writes a subscription's mirror, new or changed.
func (tx *Tx) PutSubscription(ctx context.Context, s paidup.Subscription) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO subscriptions (`+subscriptionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
		ON CONFLICT (processor, subscription_id) DO UPDATE SET
			customer_id = excluded.customer_id, processor_customer_id = excluded.processor_customer_id,
			plan_id = excluded.plan_id, status = excluded.status,
			period_start = excluded.period_start, period_end = excluded.period_end,
			cancel_at_period_end = excluded.cancel_at_period_end, ended_at = excluded.ended_at,
			failing_invoice = excluded.failing_invoice, failing_since = excluded.failing_since,
			updated_at = excluded.updated_at, cancellations = excluded.cancellations`,
		s.Processor, s.ID, s.CustomerID, s.ProcessorCustomerID, s.PlanID, s.Status, ts(s.PeriodStart), ts(s.PeriodEnd),
		s.CancelAtPeriodEnd, nullTime(s.EndedAt), s.FailingInvoice, nullTime(s.FailingSince), tx.now, s.Cancellations)
	if err != nil {
		return fmt.Errorf("recording subscription %s: %w", s.ID, err)
	}
	return nil
}

// CustomerSubscriptions lists a customer's mirrored subscriptions in the
// transaction, oldest first.
func (tx *Tx) CustomerSubscriptions(ctx context.Context, customerID string) ([]paidup.Subscription, error) {
	return subscriptions(ctx, tx.tx, customerID)
}

// Subscriptions lists a customer's mirrored subscriptions, oldest first.
func (s *Store) Subscriptions(ctx context.Context, customerID string) ([]paidup.Subscription, error) {
	return subscriptions(ctx, s.db.Read, customerID)
}

func subscriptions(ctx context.Context, q sqldb.Queryer, customerID string) ([]paidup.Subscription, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE customer_id = $1
		ORDER BY created_at, subscription_id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", err)
	}
	defer rows.Close()
	var out []paidup.Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("listing subscriptions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Customer reads a customer with their processor ids in the transaction:
// a read on another connection, while the transaction holds one, could
// wait forever for a connection of PostgreSQL's pool if every one were
// held by such a transaction.
func (tx *Tx) Customer(ctx context.Context, id string) (paidup.Customer, error) {
	return customer(ctx, tx.tx, `SELECT id, email, created_at FROM customers WHERE id = $1`, id)
}

// Deadline is something due at a time: a reminder, a grace's end, a paid
// period's end.
type Deadline struct {
	ID string
	// Key makes a deadline exist once, e.g. "reminder:stripe:in_…:1".
	Key        string
	Kind       string
	CustomerID string
	// Subject is what the deadline is about (a subscription), so that the
	// deadlines of a subscription can be cancelled together.
	Subject   string
	Due       time.Time
	Data      map[string]string
	CreatedAt time.Time
}

// AddDeadline records a deadline unless one with its key exists; it
// returns the deadline and whether it is new. The caller schedules its
// job only for a new one.
func (tx *Tx) AddDeadline(ctx context.Context, d Deadline) (Deadline, bool, error) {
	d.ID, d.CreatedAt, d.Due = newID("dl"), tx.now, ts(d.Due)
	data, err := json.Marshal(d.Data)
	if err != nil {
		return d, false, err
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO deadlines (id, dedupe_key, kind, customer_id, subject, due_at, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING`,
		d.ID, d.Key, d.Kind, d.CustomerID, d.Subject, d.Due, string(data), d.CreatedAt)
	if err != nil {
		return d, false, fmt.Errorf("recording deadline %s: %w", d.Key, err)
	}
	n, _ := res.RowsAffected()
	return d, n == 1, nil
}

const deadlineColumns = `id, dedupe_key, kind, customer_id, subject, due_at, data, created_at`

func scanDeadline(row interface{ Scan(...any) error }) (Deadline, error) {
	var d Deadline
	var data string
	if err := row.Scan(&d.ID, &d.Key, &d.Kind, &d.CustomerID, &d.Subject, &d.Due, &data, &d.CreatedAt); err != nil {
		return d, err
	}
	d.Due, d.CreatedAt = d.Due.UTC(), d.CreatedAt.UTC()
	return d, json.Unmarshal([]byte(data), &d.Data)
}

// TakeDeadline removes a deadline and returns it, so that it fires in this
// transaction and never again; found is false if it fired already or was
// cancelled. Of two transactions taking one deadline, one finds it.
func (tx *Tx) TakeDeadline(ctx context.Context, id string) (Deadline, bool, error) {
	d, err := scanDeadline(tx.tx.QueryRowContext(ctx, `DELETE FROM deadlines WHERE id = $1 RETURNING `+deadlineColumns, id))
	if err == sql.ErrNoRows {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("taking deadline %s: %w", id, err)
	}
	return d, true, nil
}

// CancelDeadlines removes a subject's deadlines of the given kinds (all
// kinds if none) and returns how many there were.
func (tx *Tx) CancelDeadlines(ctx context.Context, subject string, kinds ...string) (int, error) {
	q, args := `DELETE FROM deadlines WHERE subject = $1`, []any{subject}
	if len(kinds) > 0 {
		q += ` AND kind IN (`
		for i, k := range kinds {
			if i > 0 {
				q += `, `
			}
			args = append(args, k)
			q += fmt.Sprintf("$%d", len(args))
		}
		q += `)`
	}
	res, err := tx.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("cancelling deadlines of %s: %w", subject, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// CancelCustomerDeadlines removes every deadline of a customer.
func (tx *Tx) CancelCustomerDeadlines(ctx context.Context, customerID string) (int, error) {
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM deadlines WHERE customer_id = $1`, customerID)
	if err != nil {
		return 0, fmt.Errorf("cancelling deadlines: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DueDeadlines lists the ids of up to limit deadlines due at or before t,
// earliest first.
func (s *Store) DueDeadlines(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id FROM deadlines WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2`, ts(t), limit)
	if err != nil {
		return nil, fmt.Errorf("listing due deadlines: %w", err)
	}
	return scanStrings(rows)
}

// DeadlinesComing lists up to limit deadlines (their ids and due times)
// due after from and at or before to, earliest first.
func (s *Store) DeadlinesComing(ctx context.Context, from, to time.Time, limit int) ([]Deadline, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, due_at FROM deadlines WHERE due_at > $1 AND due_at <= $2
		ORDER BY due_at, id LIMIT $3`, ts(from), ts(to), limit)
	if err != nil {
		return nil, fmt.Errorf("listing coming deadlines: %w", err)
	}
	defer rows.Close()
	var out []Deadline
	for rows.Next() {
		var d Deadline
		if err := rows.Scan(&d.ID, &d.Due); err != nil {
			return nil, err
		}
		d.Due = d.Due.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// Grants lists a customer's grants in the transaction, oldest first.
func (tx *Tx) Grants(ctx context.Context, customerID string) ([]paidup.Grant, error) {
	return grants(ctx, tx.tx, customerID)
}

// Blocks lists a customer's blocks in the transaction, lifted or not.
func (tx *Tx) Blocks(ctx context.Context, customerID string) ([]paidup.Block, error) {
	return blocks(ctx, tx.tx, customerID)
}

// SetGrantEnd moves a grant's end (never a revoked grant's). It reports
// whether the grant changed.
func (tx *Tx) SetGrantEnd(ctx context.Context, id string, end time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE grants SET ends_at = $2 WHERE id = $1 AND revoked_at IS NULL
		AND (ends_at IS NULL OR ends_at <> $2)`, id, nullTime(end))
	if err != nil {
		return false, fmt.Errorf("ending grant %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// AddBlock blocks a customer unless a block with the same source and
// reference exists; it reports whether the block is new. The block holds
// from b.CreatedAt (when what caused it happened), or from now.
func (tx *Tx) AddBlock(ctx context.Context, b paidup.Block, ref string) (paidup.Block, bool, error) {
	b.ID, b.SourceRef = newID("bl"), ref
	if b.CreatedAt.IsZero() {
		b.CreatedAt = tx.now
	}
	b.CreatedAt = ts(b.CreatedAt)
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO blocks (id, customer_id, source, source_ref, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, source_ref) WHERE source_ref <> '' DO NOTHING`,
		b.ID, b.CustomerID, b.Source, ref, b.Reason, b.CreatedAt)
	if err != nil {
		return b, false, fmt.Errorf("blocking customer: %w", err)
	}
	n, _ := res.RowsAffected()
	return b, n == 1, nil
}

// LiftBlocks lifts every block of a customer not yet lifted, recording who
// did it and why, and returns the blocks lifted. A block dated after now
// (by a processor's test clock ahead of this one) is lifted from its start.
func (tx *Tx) LiftBlocks(ctx context.Context, customerID, actor, reason string) ([]paidup.Block, error) {
	all, err := tx.Blocks(ctx, customerID)
	if err != nil {
		return nil, err
	}
	var lifted []paidup.Block
	for _, b := range all {
		if !b.Lifted.IsZero() {
			continue
		}
		at := tx.now
		if b.CreatedAt.After(at) {
			at = b.CreatedAt
		}
		if _, err := tx.tx.ExecContext(ctx, `UPDATE blocks SET lifted_at = $2, lifted_by = $3, lift_reason = $4
			WHERE id = $1 AND lifted_at IS NULL`, b.ID, at, actor, reason); err != nil {
			return nil, fmt.Errorf("lifting block %s: %w", b.ID, err)
		}
		b.Lifted, b.LiftedBy, b.LiftReason = at, actor, reason
		lifted = append(lifted, b)
	}
	return lifted, nil
}

// Subscription reads a mirrored subscription; found is false if paidup has
// none.
func (s *Store) Subscription(ctx context.Context, processor, id string) (paidup.Subscription, bool, error) {
	sub, err := scanSubscription(s.db.Read.QueryRowContext(ctx, `SELECT `+subscriptionColumns+`
		FROM subscriptions WHERE processor = $1 AND subscription_id = $2`, processor, id))
	if err == sql.ErrNoRows {
		return sub, false, nil
	}
	if err != nil {
		return sub, false, fmt.Errorf("reading subscription %s: %w", id, err)
	}
	return sub, true, nil
}

// StaleSubscriptions lists up to limit subscriptions that have not ended
// and whose period ended before t: a renewal or an end paidup has not
// heard of.
func (s *Store) StaleSubscriptions(ctx context.Context, processor string, t time.Time, limit int) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT subscription_id FROM subscriptions
		WHERE processor = $1 AND ended_at IS NULL AND status NOT IN ('canceled', 'paused', 'incomplete_expired') AND period_end < $2
		ORDER BY period_end LIMIT $3`, processor, ts(t), limit)
	if err != nil {
		return nil, fmt.Errorf("listing stale subscriptions: %w", err)
	}
	return scanStrings(rows)
}

// BlockExists reports whether a block with the source and reference exists,
// lifted or not.
func (s *Store) BlockExists(ctx context.Context, source, ref string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM blocks WHERE source = $1 AND source_ref = $2`, source, ref).Scan(&n)
	return n > 0, err
}

// scanStrings reads a one-column result of text, and closes it.
func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
