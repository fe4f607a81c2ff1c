package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// NoDatabaseError says there is no database where a URL points: no file,
// a file that is not a SQLite database, or no such PostgreSQL database.
type NoDatabaseError struct {
	Location string
}

func (e *NoDatabaseError) Error() string { return "no database at " + e.Location }

// OpenReadOnly opens the existing database at rawURL for reading only, for
// a command that inspects a database paidup may be running on. It creates
// nothing, and every write fails: on SQLite the file is opened read-only
// (and query_only); on PostgreSQL every transaction of the session is read
// only. Write and Read are the same pool. A *NoDatabaseError says there is
// no database there.
//
// A SQLite database in use has its -wal and -shm files beside it, and is
// read through them, as paidup writes. One not in use has none, and a
// read-only connection would create them; it is opened immutable instead,
// read as the file stands, without locks. (So a check in the very moment
// paidup starts on it may read a page mid-write and fail; run it again.)
func OpenReadOnly(ctx context.Context, rawURL string) (*DB, error) {
	var db *DB
	var err error
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		db, err = openSQLiteReadOnly(strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//"))
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err = openPostgresReadOnly(rawURL)
	default:
		return nil, fmt.Errorf("database URL %q: want sqlite:PATH or postgres://…", Redact(rawURL))
	}
	if err != nil {
		return nil, err
	}
	if err := db.checkReadable(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLiteReadOnly(path string) (*DB, error) {
	if path == "" || strings.Contains(path, ":memory:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("database URL sqlite:%s: want a file path, like sqlite:paidup.db", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.Mode().IsRegular() {
		return nil, &NoDatabaseError{Location: abs}
	}
	mode := "mode=ro"
	if _, err := os.Stat(abs + "-wal"); errors.Is(err, os.ErrNotExist) {
		mode = "immutable=1"
	}
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: abs}).String() + "?" + mode +
		"&_pragma=busy_timeout(10000)&_pragma=query_only(1)&_time_format=sqlite"
	pool := sql.OpenDB(connector{dsn: dsn})
	pool.SetMaxOpenConns(4)
	return &DB{Engine: SQLite, Write: pool, Read: pool, Location: abs}, nil
}

func openPostgresReadOnly(rawURL string) (*DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL %s: %w", Redact(rawURL), err)
	}
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	u.RawQuery = q.Encode()
	pool, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("database URL %s: %w", Redact(rawURL), err)
	}
	pool.SetMaxOpenConns(4)
	return &DB{Engine: Postgres, Write: pool, Read: pool, Location: Redact(rawURL)}, nil
}

// checkReadable reads the schema, so that a file that is not a database,
// or a PostgreSQL database that does not exist, is told apart from other
// failures.
func (db *DB) checkReadable(ctx context.Context) error {
	q := `SELECT count(*) FROM sqlite_master`
	if db.Engine == Postgres {
		q = `SELECT count(*) FROM pg_catalog.pg_tables`
	}
	var n int
	err := db.Read.QueryRowContext(ctx, q).Scan(&n)
	var se *sqlite.Error
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_NOTADB || se.Code() == sqlite3.SQLITE_CANTOPEN),
		errors.As(err, &pe) && pe.Code == "3D000": // invalid_catalog_name
		return &NoDatabaseError{Location: db.Location}
	}
	return fmt.Errorf("database %s: %w", db.Location, err)
}

// HasTable reports whether the database has a table of that name.
func (db *DB) HasTable(ctx context.Context, name string) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if db.Engine == Postgres {
		q = `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1`
	}
	var n int
	if err := db.Read.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, fmt.Errorf("database %s: %w", db.Location, err)
	}
	return n > 0, nil
}
