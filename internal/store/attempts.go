package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

const attemptColumns = `reference, plan_id, email, amount, currency, processor, processor_checkout_id, checkout_url,
	status, customer_id, payment_id, checks, next_check_at, created_at, updated_at, resolved_at, status_token, status_token_hash`

func scanAttempt(row interface{ Scan(...any) error }) (paidup.CheckoutAttempt, error) {
	var a paidup.CheckoutAttempt
	var checkoutID, customerID, paymentID, token, tokenHash sql.NullString
	var next, resolved sql.NullTime
	err := row.Scan(&a.Reference, &a.PlanID, &a.Email, &a.Amount.Amount, &a.Amount.Currency, &a.Processor,
		&checkoutID, &a.CheckoutURL, &a.Status, &customerID, &paymentID, &a.Checks, &next,
		&a.CreatedAt, &a.UpdatedAt, &resolved, &token, &tokenHash)
	a.CheckoutID, a.CustomerID, a.PaymentID = checkoutID.String, customerID.String, paymentID.String
	a.StatusToken, a.StatusTokenHash = token.String, tokenHash.String
	a.NextCheckAt, a.ResolvedAt = timeOf(next), timeOf(resolved)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, err
}

// CreateCheckoutAttempt records a new attempt, to be first checked at
// a.NextCheckAt, with its status token a.StatusToken. If one with the same
// reference exists (a double click, a retried form), it is returned
// unchanged with created false.
func (s *Store) CreateCheckoutAttempt(ctx context.Context, a paidup.CheckoutAttempt) (paidup.CheckoutAttempt, bool, error) {
	var created bool
	err := s.InTx(ctx, func(tx *Tx) error {
		a.CreatedAt, a.UpdatedAt, a.Status = tx.now, tx.now, paidup.AttemptCreated
		a.NextCheckAt = ts(a.NextCheckAt)
		if a.StatusToken != "" {
			a.StatusTokenHash = paidup.HashStatusToken(a.StatusToken)
		}
		res, err := tx.tx.ExecContext(ctx, `INSERT INTO checkout_attempts
			(reference, plan_id, email, amount, currency, processor, status, next_check_at, created_at, updated_at, status_token, status_token_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (reference) DO NOTHING`,
			a.Reference, a.PlanID, a.Email, a.Amount.Amount, a.Amount.Currency, a.Processor, a.Status, nullTime(a.NextCheckAt), tx.now, tx.now,
			nullString(a.StatusToken), nullString(a.StatusTokenHash))
		if err != nil {
			return fmt.Errorf("recording checkout attempt %s: %w", a.Reference, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		created = true
		return tx.Append(ctx, paidup.TimelineEntry{Reference: a.Reference, Kind: paidup.EventCheckout, Source: paidup.ByCustomer,
			Summary: fmt.Sprintf("Checkout started: %s, %s, for %s", a.PlanID, a.Amount, a.Email)})
	})
	if err != nil || created {
		return a, created, err
	}
	existing, err := s.checkoutAttempt(ctx, s.db.Write, a.Reference)
	return existing, false, err
}

// CheckoutAttempt reads an attempt by reference.
func (s *Store) CheckoutAttempt(ctx context.Context, ref string) (paidup.CheckoutAttempt, error) {
	return s.checkoutAttempt(ctx, s.db.Read, ref)
}

func (s *Store) checkoutAttempt(ctx context.Context, q sqldb.Queryer, ref string) (paidup.CheckoutAttempt, error) {
	a, err := scanAttempt(q.QueryRowContext(ctx, `SELECT `+attemptColumns+` FROM checkout_attempts WHERE reference = $1`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return a, paidup.Errorf(paidup.ENOTFOUND, "No checkout with reference %s.", ref)
	}
	if err != nil {
		return a, fmt.Errorf("reading checkout attempt %s: %w", ref, err)
	}
	return a, nil
}

// CheckoutAttemptByCheckout reads the attempt a processor checkout was
// created for.
func (s *Store) CheckoutAttemptByCheckout(ctx context.Context, checkoutID string) (paidup.CheckoutAttempt, error) {
	a, err := scanAttempt(s.db.Read.QueryRowContext(ctx, `SELECT `+attemptColumns+` FROM checkout_attempts WHERE processor_checkout_id = $1`, checkoutID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, paidup.Errorf(paidup.ENOTFOUND, "No checkout attempt for %s.", checkoutID)
	}
	if err != nil {
		return a, fmt.Errorf("reading checkout attempt for %s: %w", checkoutID, err)
	}
	return a, nil
}

// OpenCheckoutAttempt records the processor checkout created for an
// attempt, and forgets its status token, of which the hash is enough from
// now on. Recording the same checkout again is harmless; an attempt never
// gets a second checkout.
func (s *Store) OpenCheckoutAttempt(ctx context.Context, ref, checkoutID, url string) error {
	var opened bool
	err := s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE checkout_attempts
			SET processor_checkout_id = $2, checkout_url = $3, status = $4, updated_at = $5, status_token = NULL
			WHERE reference = $1 AND status = $6 AND (processor_checkout_id IS NULL OR processor_checkout_id = $2)`,
			ref, checkoutID, url, paidup.AttemptOpen, tx.now, paidup.AttemptCreated)
		if err != nil {
			return fmt.Errorf("recording checkout %s for %s: %w", checkoutID, ref, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		opened = true
		return tx.Append(ctx, paidup.TimelineEntry{Reference: ref, Kind: paidup.EventCheckout, Source: paidup.ByCustomer,
			Summary: "Sent to the processor's payment page", Data: map[string]string{"checkout": checkoutID}})
	})
	if err != nil || opened {
		return err
	}
	a, err := s.checkoutAttempt(ctx, s.db.Write, ref)
	if err != nil {
		return err
	}
	if a.CheckoutID != checkoutID {
		return fmt.Errorf("checkout attempt %s already has checkout %q, not %s", ref, a.CheckoutID, checkoutID)
	}
	return nil
}

// AttemptGrant reads the grant that rests on an attempt's own payment —
// the payment the attempt records, made through the attempt's own
// processor checkout — and that payment's status (PaymentDisputed once a
// chargeback is made of it). found is false when
// there is none: the attempt is not fulfilled, or what it records is not
// its own checkout's payment.
func (s *Store) AttemptGrant(ctx context.Context, ref string) (g paidup.Grant, paymentStatus string, found bool, err error) {
	row := s.db.Read.QueryRowContext(ctx, `SELECT g.id, g.customer_id, g.tier, g.plan_id, g.source, g.source_ref, g.starts_at, g.ends_at,
			g.revoked_at, g.revoke_reason, g.created_at,
			CASE WHEN EXISTS (SELECT 1 FROM disputes d WHERE d.processor = p.processor AND d.payment_id = p.payment_id) THEN $4 ELSE p.status END
		FROM checkout_attempts a
		JOIN payments p ON p.processor = a.processor AND p.payment_id = a.payment_id AND p.checkout_id = a.processor_checkout_id
		JOIN grants g ON g.source_ref = p.processor || ':' || p.payment_id AND g.source IN ($2, $3)
		WHERE a.reference = $1`, ref, paidup.SourcePurchase, paidup.SourceSubscription, paidup.PaymentDisputed)
	var end, revoked sql.NullTime
	err = row.Scan(&g.ID, &g.CustomerID, &g.Tier, &g.PlanID, &g.Source, &g.SourceRef, &g.Start, &end, &revoked, &g.RevokeReason, &g.CreatedAt, &paymentStatus)
	if errors.Is(err, sql.ErrNoRows) {
		return g, "", false, nil
	}
	if err != nil {
		return g, "", false, fmt.Errorf("reading the grant of checkout %s: %w", ref, err)
	}
	g.Start, g.CreatedAt = g.Start.UTC(), g.CreatedAt.UTC()
	g.End, g.Revoked = timeOf(end), timeOf(revoked)
	return g, paymentStatus, true, nil
}

// AttemptForUpdate reads an attempt and, on PostgreSQL, locks it until the
// transaction ends, so that two fulfilments of one checkout take turns. (A
// SQLite transaction already holds the only write lock.)
func (tx *Tx) AttemptForUpdate(ctx context.Context, ref string) (paidup.CheckoutAttempt, error) {
	q := `SELECT ` + attemptColumns + ` FROM checkout_attempts WHERE reference = $1`
	if tx.s.db.Engine == sqldb.Postgres {
		q += ` FOR UPDATE`
	}
	a, err := scanAttempt(tx.tx.QueryRowContext(ctx, q, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return a, paidup.Errorf(paidup.ENOTFOUND, "No checkout with reference %s.", ref)
	}
	if err != nil {
		return a, fmt.Errorf("reading checkout attempt %s: %w", ref, err)
	}
	return a, nil
}

// RecordAttemptCheckout records an attempt's own processor checkout,
// proven by its checkout proof, when paidup had not recorded it (it
// stopped between the processor creating the checkout and writing it
// down), and forgets the attempt's status token.
func (tx *Tx) RecordAttemptCheckout(ctx context.Context, ref, checkoutID string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE checkout_attempts SET processor_checkout_id = $2, status_token = NULL, updated_at = $3
		WHERE reference = $1 AND processor_checkout_id IS NULL`, ref, checkoutID, tx.now)
	if err != nil {
		return fmt.Errorf("recording checkout %s for %s: %w", checkoutID, ref, err)
	}
	return nil
}

// OpenAttemptFor returns the newest attempt by email for plan, created at
// or after since, whose processor checkout is open as far as paidup knows:
// a second submit of the same purchase, from another form, goes to it.
func (s *Store) OpenAttemptFor(ctx context.Context, planID, email string, since time.Time) (paidup.CheckoutAttempt, bool, error) {
	a, err := scanAttempt(s.db.Read.QueryRowContext(ctx, `SELECT `+attemptColumns+` FROM checkout_attempts
		WHERE email = $1 AND plan_id = $2 AND created_at >= $3 AND status = $4 AND checkout_url <> ''
		ORDER BY created_at DESC LIMIT 1`, email, planID, ts(since), paidup.AttemptOpen))
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("finding an open checkout for %s: %w", planID, err)
	}
	return a, true, nil
}

// RestoreCheckoutAttempt recreates an attempt paidup has no row for (a
// restored backup, a crash before the first write), from what the
// processor knows. It does nothing if the attempt exists, and reports
// whether it restored it.
func (tx *Tx) RestoreCheckoutAttempt(ctx context.Context, a paidup.CheckoutAttempt) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO checkout_attempts
		(reference, plan_id, email, amount, currency, processor, processor_checkout_id, checkout_url, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8, $9, $9) ON CONFLICT (reference) DO NOTHING`,
		a.Reference, a.PlanID, a.Email, a.Amount.Amount, a.Amount.Currency, a.Processor, a.CheckoutID, paidup.AttemptOpen, ts(a.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("restoring checkout attempt %s: %w", a.Reference, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ResolveAttempt records how an attempt ended; the reconciler stops
// checking it.
func (tx *Tx) ResolveAttempt(ctx context.Context, ref, status, customerID, paymentID string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE checkout_attempts
		SET status = $2, customer_id = COALESCE($3, customer_id), payment_id = COALESCE($4, payment_id),
			next_check_at = NULL, resolved_at = $5, updated_at = $5
		WHERE reference = $1`,
		ref, status, nullString(customerID), nullString(paymentID), tx.now)
	if err != nil {
		return fmt.Errorf("resolving checkout attempt %s: %w", ref, err)
	}
	return nil
}

// DueAttempts lists unresolved attempts whose next check is due at now,
// oldest due first.
func (s *Store) DueAttempts(ctx context.Context, now time.Time, limit int) ([]paidup.CheckoutAttempt, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+attemptColumns+` FROM checkout_attempts
		WHERE next_check_at <= $1 AND status IN ($2, $3) ORDER BY next_check_at LIMIT $4`,
		ts(now), paidup.AttemptCreated, paidup.AttemptOpen, limit)
	if err != nil {
		return nil, fmt.Errorf("listing due checkout attempts: %w", err)
	}
	defer rows.Close()
	var out []paidup.CheckoutAttempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("listing due checkout attempts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RescheduleAttempt records a check of an unresolved attempt and when to
// check next.
func (s *Store) RescheduleAttempt(ctx context.Context, ref string, checks int, next time.Time) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE checkout_attempts SET checks = $2, next_check_at = $3, updated_at = $4
		WHERE reference = $1 AND status IN ($5, $6)`,
		ref, checks, ts(next), s.stamp(), paidup.AttemptCreated, paidup.AttemptOpen)
	if err != nil {
		return fmt.Errorf("rescheduling checkout attempt %s: %w", ref, err)
	}
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
