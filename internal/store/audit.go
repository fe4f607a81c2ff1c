package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// AddAudit appends an entry to the audit log, unless one for its request
// exists: it reports whether the entry is new. There is no way to change
// or remove an entry.
func (tx *Tx) AddAudit(ctx context.Context, e paidup.AuditEntry) (bool, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return false, err
	}
	if e.Data == nil {
		data = []byte("{}")
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO audit_log (request_id, at, actor, action, customer_id, target, reason, outcome, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (request_id) DO NOTHING`,
		e.RequestID, tx.now, e.Actor, e.Action, nullString(e.CustomerID), e.Target, e.Reason, e.Outcome, string(data))
	if err != nil {
		return false, fmt.Errorf("writing the audit log: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Audit reads the audit entry of a request; found is false if the request
// was never answered.
func (tx *Tx) Audit(ctx context.Context, requestID string) (paidup.AuditEntry, bool, error) {
	return auditEntry(ctx, tx.tx, requestID)
}

// Audit reads the audit entry of a request; found is false if the request
// was never answered.
func (s *Store) Audit(ctx context.Context, requestID string) (paidup.AuditEntry, bool, error) {
	return auditEntry(ctx, s.db.Read, requestID)
}

const auditColumns = `id, request_id, at, actor, action, customer_id, target, reason, outcome, data`

func scanAudit(row interface{ Scan(...any) error }) (paidup.AuditEntry, error) {
	var e paidup.AuditEntry
	var customer sql.NullString
	var data string
	if err := row.Scan(&e.ID, &e.RequestID, &e.At, &e.Actor, &e.Action, &customer, &e.Target, &e.Reason, &e.Outcome, &data); err != nil {
		return e, err
	}
	e.CustomerID, e.At = customer.String, e.At.UTC()
	json.Unmarshal([]byte(data), &e.Data)
	return e, nil
}

func auditEntry(ctx context.Context, q sqldb.Queryer, requestID string) (paidup.AuditEntry, bool, error) {
	e, err := scanAudit(q.QueryRowContext(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE request_id = $1`, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("reading the audit log: %w", err)
	}
	return e, true, nil
}

// AuditLog lists the audit log, newest first, at most limit entries
// before the entry before (0: from the newest): a customer's, or
// everyone's when customerID is empty. Only the conditions asked for are
// in the query, so that a customer's entries are read by
// audit_log_customer: with one query for both (the customer's, or any
// when $2 is empty), PostgreSQL's plan of the prepared statement read
// the whole log backwards for a customer with few entries (8.6 ms with
// 100,000 of others').
func (s *Store) AuditLog(ctx context.Context, customerID string, before int64, limit int) ([]paidup.AuditEntry, error) {
	var where []string
	args := []any{limit}
	if before != 0 {
		args = append(args, before)
		where = append(where, fmt.Sprintf("id < $%d", len(args)))
	}
	if customerID != "" {
		args = append(args, customerID)
		where = append(where, fmt.Sprintf("customer_id = $%d", len(args)))
	}
	q := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.Read.QueryContext(ctx, q+` ORDER BY id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	defer rows.Close()
	var out []paidup.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// UnsettledAttempts lists the checkout attempts of a customer (by paidup's
// id) or of an email address that are not settled, oldest first: those
// still waiting on the processor, and those the reconciler gave up on.
func (s *Store) UnsettledAttempts(ctx context.Context, customerID, email string) ([]paidup.CheckoutAttempt, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+attemptColumns+` FROM checkout_attempts
		WHERE (customer_id = $1 OR email = $2) AND status IN ($3, $4, $5) ORDER BY created_at, reference`,
		customerID, email, paidup.AttemptCreated, paidup.AttemptOpen, paidup.AttemptUnknown)
	if err != nil {
		return nil, fmt.Errorf("listing checkout attempts: %w", err)
	}
	defer rows.Close()
	var out []paidup.CheckoutAttempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("listing checkout attempts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
