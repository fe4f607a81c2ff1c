package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"syscall"

	"github.com/pressly/goose/v3"
)

// Migrations is one set of schema migrations, written once per engine: the
// same tables in each engine's dialect. Version is recorded in Table.
type Migrations struct {
	Table    string // goose version table, e.g. "paidup_schema_version"
	SQLite   fs.FS  // *.sql files for SQLite
	Postgres fs.FS  // *.sql files for PostgreSQL
	// Go are migrations written in Go, by version, run in a transaction
	// on either engine: for changes SQL cannot make the same way on both,
	// such as rewriting values by Go's Unicode tables. Their versions are
	// not used by any file.
	Go map[int64]func(ctx context.Context, tx *sql.Tx) error
}

// Migrate applies every pending migration in set and reports how many it
// applied.
func (db *DB) Migrate(ctx context.Context, set Migrations) (int, error) {
	dialect, fsys := goose.DialectSQLite3, set.SQLite
	if db.Engine == Postgres {
		dialect, fsys = goose.DialectPostgres, set.Postgres
	}
	opts := []goose.ProviderOption{goose.WithTableName(set.Table), goose.WithDisableGlobalRegistry(true)}
	for version, up := range set.Go {
		opts = append(opts, goose.WithGoMigrations(goose.NewGoMigration(version, &goose.GoFunc{RunTx: up}, nil)))
	}
	p, err := goose.NewProvider(dialect, db.Write, fsys, opts...)
	if err != nil {
		return 0, fmt.Errorf("loading migrations for %s: %w", set.Table, err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrating %s: %w", set.Table, err)
	}
	return len(results), nil
}

// WithMigrationLock runs fn while holding a database-wide lock, so that
// several processes starting at once on one database migrate one after
// another: an advisory lock on PostgreSQL, a lock file beside the database
// file on SQLite.
func (db *DB) WithMigrationLock(ctx context.Context, fn func() error) error {
	if db.Engine == SQLite {
		return withFileLock(db.Location+"-migrate.lock", fn)
	}
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("taking migration lock: %w", err)
	}
	defer conn.Close()
	key := lockKey("paidup migrations")
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("taking migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	return fn()
}

func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Queryer is what both *sql.DB and *sql.Tx offer, so a query can run inside
// or outside a transaction.
type Queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// withFileLock runs fn holding an exclusive lock on the file at path,
// creating it if needed.
func withFileLock(path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("taking migration lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("taking migration lock: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}
