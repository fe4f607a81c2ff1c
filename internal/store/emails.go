package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// Email statuses.
const (
	EmailQueued  = "queued"  // waiting to be sent
	EmailSending = "sending" // handed, or about to be handed, to the mail server
	EmailSent    = "sent"    // the mail server accepted it
	EmailFailed  = "failed"  // every attempt failed; a person must look
)

// Email is a message paidup sends. Its id is its stable Message-ID, so a
// resend after a crash is recognisably the same message.
type Email struct {
	ID         string
	DedupeKey  string // one email per key: "confirmation:<grant id>"
	CustomerID string
	Kind       string
	To         string
	Data       map[string]string
	Status     string
	Attempts   int
	LastError  string
	QueuedAt   time.Time
	SentAt     time.Time
}

// QueueEmail records an email to send unless one with its dedupe key exists.
// It returns the email that exists afterwards and whether it is new; the
// caller enqueues the sending job only for a new one.
func (tx *Tx) QueueEmail(ctx context.Context, e Email) (Email, bool, error) {
	e.ID, e.Status, e.QueuedAt = newID("em"), EmailQueued, tx.now
	data, err := json.Marshal(e.Data)
	if err != nil {
		return e, false, err
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO emails (id, dedupe_key, customer_id, kind, to_address, data, status, queued_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING`,
		e.ID, e.DedupeKey, nullString(e.CustomerID), e.Kind, e.To, string(data), e.Status, e.QueuedAt)
	if err != nil {
		return e, false, fmt.Errorf("queueing %s email: %w", e.Kind, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return e, true, nil
	}
	existing, err := email(ctx, tx.tx, `dedupe_key`, e.DedupeKey)
	return existing, false, err
}

// Email reads an email by id.
func (s *Store) Email(ctx context.Context, id string) (Email, error) {
	return email(ctx, s.db.Read, "id", id)
}

// EmailForUpdate reads an email in the transaction.
func (tx *Tx) EmailForUpdate(ctx context.Context, id string) (Email, error) {
	return email(ctx, tx.tx, "id", id)
}

const emailColumns = `id, dedupe_key, customer_id, kind, to_address, data, status, attempts, last_error, queued_at, sent_at`

func scanEmail(row interface{ Scan(...any) error }) (Email, error) {
	var e Email
	var customer sql.NullString
	var data string
	var sent sql.NullTime
	err := row.Scan(&e.ID, &e.DedupeKey, &customer, &e.Kind, &e.To, &data, &e.Status, &e.Attempts, &e.LastError, &e.QueuedAt, &sent)
	if err != nil {
		return e, err
	}
	e.CustomerID, e.QueuedAt, e.SentAt = customer.String, e.QueuedAt.UTC(), timeOf(sent)
	json.Unmarshal([]byte(data), &e.Data)
	return e, nil
}

func email(ctx context.Context, q sqldb.Queryer, column, value string) (Email, error) {
	e, err := scanEmail(q.QueryRowContext(ctx, `SELECT `+emailColumns+` FROM emails WHERE `+column+` = $1`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return e, paidup.Errorf(paidup.ENOTFOUND, "No such email.")
	}
	if err != nil {
		return e, fmt.Errorf("reading email: %w", err)
	}
	return e, nil
}

// SetEmailStatus records an email's progress: sending (one more attempt),
// sent, or failed, with the last error.
func (tx *Tx) SetEmailStatus(ctx context.Context, id, status, lastError string) error {
	var err error
	switch status {
	case EmailSending:
		_, err = tx.tx.ExecContext(ctx, `UPDATE emails SET status = $2, attempts = attempts + 1 WHERE id = $1 AND status <> $3`, id, status, EmailSent)
	case EmailSent:
		_, err = tx.tx.ExecContext(ctx, `UPDATE emails SET status = $2, sent_at = $3, last_error = '' WHERE id = $1`, id, status, tx.now)
	default:
		_, err = tx.tx.ExecContext(ctx, `UPDATE emails SET status = $2, last_error = $3 WHERE id = $1 AND status <> $4`, id, status, lastError, EmailSent)
	}
	if err != nil {
		return fmt.Errorf("recording email %s as %s: %w", id, status, err)
	}
	return nil
}

// Emails lists a customer's emails, oldest first.
func (s *Store) Emails(ctx context.Context, customerID string) ([]Email, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+emailColumns+` FROM emails WHERE customer_id = $1 ORDER BY queued_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing emails: %w", err)
	}
	defer rows.Close()
	var out []Email
	for rows.Next() {
		e, err := scanEmail(rows)
		if err != nil {
			return nil, fmt.Errorf("listing emails: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EmailsTo counts the emails of kinds queued at or after since to address
// for customerID, or, with customerID empty, to address for no customer
// (both by the customer index).
func (tx *Tx) EmailsTo(ctx context.Context, customerID, address string, kinds []string, since time.Time) (int, error) {
	q := `SELECT count(*) FROM emails WHERE customer_id = $1 AND to_address = $2 AND queued_at >= $3 AND kind IN (`
	if customerID == "" {
		q = `SELECT count(*) FROM emails WHERE customer_id IS NULL AND $1 = '' AND to_address = $2 AND queued_at >= $3 AND kind IN (`
	}
	args := []any{customerID, address, ts(since)}
	for i, k := range kinds {
		if i > 0 {
			q += ", "
		}
		args = append(args, k)
		q += fmt.Sprintf("$%d", len(args))
	}
	var n int
	if err := tx.tx.QueryRowContext(ctx, q+`)`, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting emails to %s: %w", address, err)
	}
	return n, nil
}
