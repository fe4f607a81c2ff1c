package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
)

// check verifies paidup's invariants on a live database and exits non-zero
// on any violation.
func check(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url", "sandbox-database-url")
	strict := fs.Bool("strict", false, "count payments waiting for a person (an open support case) as violations too")
	withProcessor := fs.Bool("processor", false, "also compare paidup's refunded payments with the configured processor's refunds (asks the processor)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := f.load(stdout)
	if err != nil {
		return err
	}
	now, err := businessClock(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "paidup check: %v; checking on this machine's clock\n", err)
		now = time.Now
	}
	db, s, err := openStoreReadOnly(ctx, cfg.Database.URL.Reveal(), now)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := s.Check(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: checked %d payments and %d grants.\n", db.Location, r.Payments, r.Grants)
	for _, v := range r.Violations {
		fmt.Fprintf(stdout, "VIOLATION: %s: %s\n", v.Rule, v.Detail)
	}
	for _, v := range r.AwaitingPerson {
		fmt.Fprintf(stdout, "waiting for a person: %s\n", v.Detail)
	}
	for _, v := range r.Refunding {
		fmt.Fprintf(stdout, "being refunded (a duplicate purchase): %s\n", v.Detail)
	}
	bad := len(r.Violations)
	if *strict {
		bad += len(r.AwaitingPerson)
	}
	if *withProcessor {
		n, err := checkProcessor(ctx, cfg, s, stdout)
		if err != nil {
			return err
		}
		bad += n
	}
	if bad > 0 {
		return fmt.Errorf("%d invariant violations", bad)
	}
	fmt.Fprintln(stdout, "OK: every succeeded payment has exactly one grant or a refund, every grant has a source, every grant's confirmation is sent or queued, every checkout was settled by a payment through its own checkout, and no customer pays twice for the same access without a case or refund.")
	return nil
}

// openStoreReadOnly opens paidup's database at rawURL for a command that
// only reads it (check), on the business clock now: it creates nothing and
// cannot write, and a URL where there is no paidup database says so. The
// caller closes the database.
func openStoreReadOnly(ctx context.Context, rawURL string, now func() time.Time) (*sqldb.DB, *store.Store, error) {
	db, err := sqldb.OpenReadOnly(ctx, rawURL)
	var none *sqldb.NoDatabaseError
	if errors.As(err, &none) {
		return nil, nil, fmt.Errorf("no paidup database at %s", none.Location)
	}
	if err != nil {
		return nil, nil, err
	}
	ok, err := db.HasTable(ctx, store.Migrations.Table)
	if err == nil && !ok {
		err = fmt.Errorf("no paidup database at %s", db.Location)
	}
	var s *store.Store
	if err == nil {
		s, err = store.New(db, now)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, s, nil
}

// openChangingStore opens cfg's database for a command that changes it
// while paidup runs (block, case): on serve's business clock, with the
// crash points PAIDUP_FAILPOINTS arms. The caller closes the database.
func openChangingStore(ctx context.Context, cfg *config.Config, getenv func(string) string) (*sqldb.DB, *store.Store, error) {
	points, err := failpoint.Enabled(getenv)
	if err != nil {
		return nil, nil, err
	}
	failpoint.Arm(points)
	now, err := businessClock(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return openStore(ctx, cfg.Database.URL.Reveal(), now)
}

// openStore opens the database at rawURL for a command that changes it
// while paidup runs (block, demo), on the business clock now.
// The caller closes the database.
func openStore(ctx context.Context, rawURL string, now func() time.Time) (*sqldb.DB, *store.Store, error) {
	db, err := sqldb.Open(ctx, rawURL)
	if err != nil {
		return nil, nil, err
	}
	s, err := store.New(db, now)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, s, nil
}
