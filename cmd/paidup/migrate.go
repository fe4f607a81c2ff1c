package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
)

// migrate creates or upgrades paidup's tables and the job queue's. serve
// does the same at start; this is for deployments that migrate first.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url", "log-level", "log-format")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := f.load(stdout)
	if err != nil {
		return err
	}
	if _, err := f.logger(stderr); err != nil {
		return err
	}
	db, err := sqldb.Open(ctx, cfg.Database.URL.Reveal())
	if err != nil {
		return err
	}
	defer db.Close()
	var own, jobs int
	err = db.WithMigrationLock(ctx, func() error {
		var err error
		if own, err = db.Migrate(ctx, store.Migrations); err != nil {
			return err
		}
		jobs, err = queue.Migrate(ctx, db)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: applied %d paidup and %d job queue migrations; the schema is up to date.\n", db.Location, own, jobs)
	return nil
}
