// Package store keeps paidup's state — checkout attempts, webhook events and
// what follows from them — in SQLite or PostgreSQL, with the same SQL on
// both.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations are paidup's tables.
var Migrations = sqldb.Migrations{
	Table:    "paidup_schema_version",
	SQLite:   sub("migrations/sqlite"),
	Postgres: sub("migrations/postgres"),
}

func sub(dir string) fs.FS {
	f, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		panic(err)
	}
	return f
}

// Store reads and writes paidup's state.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

// New returns a store on db; now is the business clock.
func New(db *sqldb.DB, now func() time.Time) *Store {
	return &Store{db: db, now: now}
}

// DB returns the underlying database.
func (s *Store) DB() *sqldb.DB { return s.db }

// ts is a time as paidup stores it: UTC, to the microsecond (PostgreSQL's
// precision), so that what is read back equals what was written.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (s *Store) stamp() time.Time { return ts(s.now()) }

// CreateCheckoutAttempt records a new attempt. If one with the same
// reference exists (a double click, a retried form), it is returned
// unchanged with created false.
func (s *Store) CreateCheckoutAttempt(ctx context.Context, a paidup.CheckoutAttempt) (paidup.CheckoutAttempt, bool, error) {
	now := s.stamp()
	a.CreatedAt, a.UpdatedAt, a.Status = now, now, paidup.AttemptCreated
	res, err := s.db.Write.ExecContext(ctx, `INSERT INTO checkout_attempts
		(reference, plan_id, email, amount, currency, processor, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (reference) DO NOTHING`,
		a.Reference, a.PlanID, a.Email, a.Amount.Amount, a.Amount.Currency, a.Processor, a.Status, now, now)
	if err != nil {
		return a, false, fmt.Errorf("recording checkout attempt %s: %w", a.Reference, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return a, true, nil
	}
	existing, err := s.checkoutAttempt(ctx, s.db.Write, a.Reference)
	return existing, false, err
}

// CheckoutAttempt reads an attempt by reference.
func (s *Store) CheckoutAttempt(ctx context.Context, ref string) (paidup.CheckoutAttempt, error) {
	return s.checkoutAttempt(ctx, s.db.Read, ref)
}

func (s *Store) checkoutAttempt(ctx context.Context, q sqldb.Queryer, ref string) (paidup.CheckoutAttempt, error) {
	var a paidup.CheckoutAttempt
	var checkoutID sql.NullString
	err := q.QueryRowContext(ctx, `SELECT reference, plan_id, email, amount, currency, processor,
		processor_checkout_id, checkout_url, status, created_at, updated_at
		FROM checkout_attempts WHERE reference = $1`, ref).Scan(
		&a.Reference, &a.PlanID, &a.Email, &a.Amount.Amount, &a.Amount.Currency, &a.Processor,
		&checkoutID, &a.CheckoutURL, &a.Status, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return a, paidup.Errorf(paidup.ENOTFOUND, "No checkout with reference %s.", ref)
	}
	if err != nil {
		return a, fmt.Errorf("reading checkout attempt %s: %w", ref, err)
	}
	a.CheckoutID = checkoutID.String
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, nil
}

// OpenCheckoutAttempt records the processor checkout created for an
// attempt. Recording the same checkout again is harmless.
func (s *Store) OpenCheckoutAttempt(ctx context.Context, ref, checkoutID, url string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE checkout_attempts
		SET processor_checkout_id = $2, checkout_url = $3, status = $4, updated_at = $5
		WHERE reference = $1 AND status = $6 AND (processor_checkout_id IS NULL OR processor_checkout_id = $2)`,
		ref, checkoutID, url, paidup.AttemptOpen, s.stamp(), paidup.AttemptCreated)
	if err != nil {
		return fmt.Errorf("recording checkout %s for %s: %w", checkoutID, ref, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		a, err := s.checkoutAttempt(ctx, s.db.Write, ref)
		if err != nil {
			return err
		}
		if a.CheckoutID != checkoutID {
			return fmt.Errorf("checkout attempt %s already has checkout %s, not %s", ref, a.CheckoutID, checkoutID)
		}
	}
	return nil
}
