package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/stripe"
)

// businessClock is the clock serve runs on, for a command that reads or
// changes paidup's records beside it: in sandbox mode the sandbox's
// clock, as its records have it; with processor.stripe.test_clock, that
// test clock; else the wall clock. A lift dated by the wall clock after
// the sandbox's clock moved a month on would come before the block it
// lifts.
func businessClock(ctx context.Context, cfg *config.Config) (func() time.Time, error) {
	switch {
	case cfg.Processor.Kind == config.KindSandbox:
		db, err := sqldb.OpenReadOnly(ctx, cfg.Sandbox.DatabaseURL.Reveal())
		var none *sqldb.NoDatabaseError
		if errors.As(err, &none) {
			return time.Now, nil // the sandbox never ran: its clock is the wall clock
		}
		if err != nil {
			return nil, fmt.Errorf("sandbox database: %w", err)
		}
		defer db.Close()
		return sandbox.StoredNow(ctx, db)
	case cfg.Processor.Stripe.TestClock != "":
		id := cfg.Processor.Stripe.TestClock
		client := stripe.New(stripe.Config{SecretKey: cfg.Processor.Stripe.SecretKey.Reveal(), URL: cfg.Processor.Stripe.APIURL, Timeout: 8 * time.Second})
		clock := &followedClock{read: func(ctx context.Context) (time.Time, error) { return client.TestClockTime(ctx, id) }}
		if err := clock.sync(ctx); err != nil {
			return nil, fmt.Errorf("processor.stripe.test_clock: %w", err)
		}
		return clock.Now, nil
	}
	return time.Now, nil
}
