package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paidup/paidup"
)

// OnCallState is what on call keeps between evaluations.
type OnCallState struct {
	// AckKey signs acknowledgement links (hex).
	AckKey string
	// DigestThrough is the business time the last digest reported up to.
	DigestThrough time.Time
}

const alertColumns = `id, alert_key, rule, severity, state, summary, detail, instances, first_seen, last_seen,
	acknowledged_by, acknowledged_at, resolved_at, next_notify_at, escalation, notifications`

func scanAlert(row interface{ Scan(...any) error }) (paidup.Alert, error) {
	var a paidup.Alert
	var acked, resolved, next sql.NullTime
	err := row.Scan(&a.ID, &a.Key, &a.Rule, &a.Severity, &a.State, &a.Summary, &a.Detail, &a.Instances, &a.FirstSeen, &a.LastSeen,
		&a.AcknowledgedBy, &acked, &resolved, &next, &a.Escalation, &a.Notifications)
	a.FirstSeen, a.LastSeen = a.FirstSeen.UTC(), a.LastSeen.UTC()
	a.AcknowledgedAt, a.ResolvedAt, a.NextNotifyAt = timeOf(acked), timeOf(resolved), timeOf(next)
	return a, err
}

// LockOnCall takes on call's lock for the transaction, so that evaluators
// on several instances take turns and each sees what the one before
// committed, and returns the shared state, making the signing key on
// first use.
func (tx *Tx) LockOnCall(ctx context.Context) (OnCallState, error) {
	if _, err := tx.tx.ExecContext(ctx, `UPDATE oncall_state SET evaluated_at = $1 WHERE id = 1`, tx.now); err != nil {
		return OnCallState{}, fmt.Errorf("locking on call: %w", err)
	}
	st, err := onCallState(ctx, tx.tx)
	if err != nil || st.AckKey != "" {
		return st, err
	}
	b := make([]byte, 32)
	rand.Read(b)
	st.AckKey = hex.EncodeToString(b)
	_, err = tx.tx.ExecContext(ctx, `UPDATE oncall_state SET ack_key = $1 WHERE id = 1`, st.AckKey)
	return st, err
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func onCallState(ctx context.Context, q queryRower) (OnCallState, error) {
	var st OnCallState
	var through sql.NullTime
	if err := q.QueryRowContext(ctx, `SELECT ack_key, digest_through FROM oncall_state WHERE id = 1`).Scan(&st.AckKey, &through); err != nil {
		return st, fmt.Errorf("reading on call's state: %w", err)
	}
	st.DigestThrough = timeOf(through)
	return st, nil
}

// OnCallState reads on call's shared state, without the lock.
func (s *Store) OnCallState(ctx context.Context) (OnCallState, error) {
	return onCallState(ctx, s.db.Read)
}

// SetDigestThrough records how far the daily digest has reported.
func (tx *Tx) SetDigestThrough(ctx context.Context, t time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE oncall_state SET digest_through = $1 WHERE id = 1`, ts(t))
	return err
}

// OpenAlerts lists the alerts not resolved, oldest first.
func (tx *Tx) OpenAlerts(ctx context.Context) ([]paidup.Alert, error) {
	return alerts(ctx, tx.tx, `WHERE state <> $1 ORDER BY first_seen, id`, paidup.AlertResolved)
}

// Alerts lists the alerts of a severity last seen after since, oldest
// first.
func (tx *Tx) Alerts(ctx context.Context, severity string, since time.Time) ([]paidup.Alert, error) {
	return alerts(ctx, tx.tx, `WHERE severity = $1 AND last_seen > $2 ORDER BY first_seen, id`, severity, ts(since))
}

func alerts(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, where string, args ...any) ([]paidup.Alert, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	defer rows.Close()
	var out []paidup.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("listing alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Alert reads an alert.
func (s *Store) Alert(ctx context.Context, id string) (paidup.Alert, error) {
	a, err := scanAlert(s.db.Read.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, paidup.Errorf(paidup.ENOTFOUND, "No such alert.")
	}
	return a, err
}

// InsertAlert raises a new alert, firing since the transaction's time.
func (tx *Tx) InsertAlert(ctx context.Context, a paidup.Alert) (paidup.Alert, error) {
	a.ID, a.State, a.FirstSeen, a.LastSeen = newID("al"), paidup.AlertFiring, tx.now, tx.now
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO alerts (id, alert_key, rule, severity, state, summary, detail, instances, first_seen, last_seen, next_notify_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.ID, a.Key, a.Rule, a.Severity, a.State, a.Summary, a.Detail, a.Instances, a.FirstSeen, a.LastSeen, nullTime(a.NextNotifyAt))
	if err != nil {
		return a, fmt.Errorf("raising alert %s: %w", a.Key, err)
	}
	return a, nil
}

// UpdateAlert writes what an evaluation changed of an alert: what it says,
// its state, when it pages next and how far it has escalated.
func (tx *Tx) UpdateAlert(ctx context.Context, a paidup.Alert) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE alerts SET state = $2, summary = $3, detail = $4, instances = $5, last_seen = $6,
		resolved_at = $7, next_notify_at = $8, escalation = $9, notifications = $10 WHERE id = $1`,
		a.ID, a.State, a.Summary, a.Detail, a.Instances, ts(a.LastSeen), nullTime(a.ResolvedAt), nullTime(a.NextNotifyAt), a.Escalation, a.Notifications)
	if err != nil {
		return fmt.Errorf("updating alert %s: %w", a.ID, err)
	}
	return nil
}

// AcknowledgeAlert records that who has a firing alert in hand, which
// stops its pages, and numbers the notification that says so. It returns
// the alert and whether it was firing.
func (tx *Tx) AcknowledgeAlert(ctx context.Context, id, who string) (paidup.Alert, bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE alerts SET state = $2, acknowledged_by = $3, acknowledged_at = $4, next_notify_at = NULL,
		notifications = notifications + 1 WHERE id = $1 AND state = $5`, id, paidup.AlertAcknowledged, who, tx.now, paidup.AlertFiring)
	if err != nil {
		return paidup.Alert{}, false, fmt.Errorf("acknowledging alert %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return paidup.Alert{}, false, nil
	}
	a, err := scanAlert(tx.tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
	return a, err == nil, err
}

// AddAlertNotification records a notification unless one with its number
// exists, and reports whether it is new: only a new one is sent.
func (tx *Tx) AddAlertNotification(ctx context.Context, n paidup.AlertNotification) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO alert_notifications (alert_id, seq, event, recipients, summary, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (alert_id, seq) DO NOTHING`,
		n.AlertID, n.Seq, n.Event, strings.Join(n.Recipients, ","), n.Summary, tx.now)
	if err != nil {
		return false, fmt.Errorf("recording a notification of alert %s: %w", n.AlertID, err)
	}
	c, _ := res.RowsAffected()
	return c == 1, nil
}

// AlertNotifications lists an alert's notifications in order.
func (s *Store) AlertNotifications(ctx context.Context, alertID string) ([]paidup.AlertNotification, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT alert_id, seq, event, recipients, summary, created_at FROM alert_notifications
		WHERE alert_id = $1 ORDER BY seq`, alertID)
	if err != nil {
		return nil, fmt.Errorf("listing notifications of alert %s: %w", alertID, err)
	}
	defer rows.Close()
	var out []paidup.AlertNotification
	for rows.Next() {
		var n paidup.AlertNotification
		var to string
		if err := rows.Scan(&n.AlertID, &n.Seq, &n.Event, &to, &n.Summary, &n.CreatedAt); err != nil {
			return nil, err
		}
		n.Recipients, n.CreatedAt = strings.Split(to, ","), n.CreatedAt.UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}

// UnfulfilledPayments lists the succeeded payments paid before paidBefore
// that have no grant, no open support case and are not a duplicate being
// refunded: paid for, and nothing given (the first rule of Check, aged).
func (tx *Tx) UnfulfilledPayments(ctx context.Context, paidBefore time.Time) ([]string, error) {
	return texts(ctx, tx.tx, `
		SELECT p.processor || ':' || p.payment_id || ' (' || COALESCE(p.checkout_reference, 'no reference') || ')'
		FROM payments p
		WHERE p.status = $1 AND p.paid_at < $4
		  AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.source_ref = p.processor || ':' || p.payment_id)
		  AND NOT EXISTS (SELECT 1 FROM support_cases c WHERE c.payment_id = p.payment_id AND c.status = $2)
		  AND NOT EXISTS (SELECT 1 FROM checkout_attempts a WHERE a.reference = p.checkout_reference AND a.payment_id = p.payment_id AND a.status = $3)
		ORDER BY p.paid_at, p.payment_id`,
		paidup.PaymentSucceeded, paidup.CaseOpen, paidup.AttemptDuplicate, ts(paidBefore))
}

// OpenCasesByKind lists the open support cases, by kind, oldest first.
func (tx *Tx) OpenCasesByKind(ctx context.Context) (map[string][]paidup.SupportCase, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT id, kind, summary, reference, created_at FROM support_cases WHERE status = $1 ORDER BY created_at, id`, paidup.CaseOpen)
	if err != nil {
		return nil, fmt.Errorf("listing open support cases: %w", err)
	}
	defer rows.Close()
	out := map[string][]paidup.SupportCase{}
	for rows.Next() {
		var c paidup.SupportCase
		if err := rows.Scan(&c.ID, &c.Kind, &c.Summary, &c.Reference, &c.CreatedAt); err != nil {
			return nil, err
		}
		out[c.Kind] = append(out[c.Kind], c)
	}
	return out, rows.Err()
}

// EmailsRetrying counts the emails waiting to be tried again after a
// failed attempt.
func (tx *Tx) EmailsRetrying(ctx context.Context) (int, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM emails WHERE status = $1 AND attempts > 0`, EmailQueued).Scan(&n)
	return n, err
}

// JobsDiscarded lists the kinds of the jobs that exhausted their retries
// after since, by River's clock (the wall clock, which stamps its rows),
// one entry per job.
func (tx *Tx) JobsDiscarded(ctx context.Context, since time.Time) ([]string, error) {
	return texts(ctx, tx.tx, `SELECT kind FROM river_job WHERE state = 'discarded' AND finalized_at > $1 ORDER BY finalized_at`, since.UTC())
}

// JobsRetrying lists the kinds of the jobs of kinds waiting to be tried
// again after an error, one entry per job.
func (tx *Tx) JobsRetrying(ctx context.Context, kinds []string) ([]string, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	args := make([]any, len(kinds))
	marks := make([]string, len(kinds))
	for i, k := range kinds {
		args[i], marks[i] = k, fmt.Sprintf("$%d", i+1)
	}
	return texts(ctx, tx.tx, `SELECT kind FROM river_job WHERE state = 'retryable' AND kind IN (`+strings.Join(marks, ", ")+`) ORDER BY id`, args...)
}

// texts reads a query's one text column.
func texts(ctx context.Context, q txConn, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
