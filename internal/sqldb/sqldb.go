// Package sqldb opens paidup's databases — SQLite, the embedded default, or
// PostgreSQL for production — with the settings each engine needs for
// durable, concurrent use, and applies schema migrations.
//
// Both engines are reached through database/sql with the same SQL: `$1`
// placeholders, ON CONFLICT and RETURNING work on both. Times are stored in
// UTC.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Engine names a database engine.
type Engine string

// Supported engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is an open database. On SQLite, Write is a single connection — SQLite
// allows one writer at a time, and one connection makes that explicit instead
// of a busy error — and Read is a pool of read-only connections. On
// PostgreSQL both are the same pool.
type DB struct {
	Engine Engine
	Write  *sql.DB
	Read   *sql.DB
	// Location names the database for people without revealing a password:
	// the SQLite file path, or the PostgreSQL URL with the password removed.
	Location string

	// group commits SQLite transactions together; see InGroupTx.
	groupOnce sync.Once
	group     *groupCommitter
	groupDone sync.WaitGroup
	// stopCheckpointer ends SQLite's background checkpoints.
	stopCheckpointer func()
}

// Open opens the database at rawURL: "sqlite:PATH" (a file, created if
// missing) or "postgres://…" / "postgresql://…". It checks the connection
// before returning.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	var db *DB
	var err error
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		db, err = openSQLite(strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//"))
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err = openPostgres(rawURL)
	default:
		return nil, fmt.Errorf("database URL %q: want sqlite:PATH or postgres://…", Redact(rawURL))
	}
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(path string) (*DB, error) {
	if path == "" || strings.Contains(path, ":memory:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("database URL sqlite:%s: want a file path, like sqlite:paidup.db", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %s: %w", path, err)
	}
	// synchronous(FULL): a commit is on disk before it returns, so a webhook
	// acknowledged after a commit survives a power cut, not only a crash.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_time_format=sqlite"
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: abs}).String()
	// The writer leaves checkpoints (copying the WAL into the database
	// file, and syncing it) to a connection of their own, so that commits
	// do not wait for them; it checkpoints itself only if that one falls
	// far behind (about 40 MB of WAL).
	write := sql.OpenDB(connector{dsn: dsn + "?" + pragmas + "&_pragma=wal_autocheckpoint(10000)&_txlock=immediate"})
	write.SetMaxOpenConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	read := sql.OpenDB(connector{dsn: dsn + "?" + pragmas + "&_pragma=query_only(1)"})
	read.SetMaxOpenConns(8)
	// Keep the readers open: opening a SQLite connection reads the schema,
	// which under load costs more than the queries.
	read.SetMaxIdleConns(8)
	db := &DB{Engine: SQLite, Write: write, Read: read, Location: abs}
	db.startCheckpointer(sql.OpenDB(connector{dsn: dsn + "?" + pragmas}))
	return db, nil
}

// checkpointEvery is how often the checkpointer copies the WAL into the
// database file.
const checkpointEvery = 200 * time.Millisecond

// startCheckpointer checkpoints the WAL on conn, in the background, until
// Close. A passive checkpoint neither waits for nor blocks the writer or
// the readers; commits stay durable in the WAL meanwhile (synchronous=FULL).
func (db *DB) startCheckpointer(conn *sql.DB) {
	conn.SetMaxOpenConns(1)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer conn.Close()
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			var busy, log, moved int
			// An error (the database busy, or gone) leaves the work to the
			// next tick, or to the writer's own checkpoint.
			conn.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &moved)
		}
	}()
	db.stopCheckpointer = func() { close(stop); <-done }
}

func openPostgres(rawURL string) (*DB, error) {
	pool, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL %s: %w", Redact(rawURL), err)
	}
	pool.SetMaxOpenConns(20)
	pool.SetMaxIdleConns(20)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{Engine: Postgres, Write: pool, Read: pool, Location: Redact(rawURL)}, nil
}

// Ping checks that the database answers, on both pools.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Write.PingContext(ctx); err != nil {
		return fmt.Errorf("database %s: %w", db.Location, err)
	}
	if db.Read != db.Write {
		if err := db.Read.PingContext(ctx); err != nil {
			return fmt.Errorf("database %s (read pool): %w", db.Location, err)
		}
	}
	return nil
}

// Close closes both pools, after the group transactions under way.
func (db *DB) Close() error {
	db.groupOnce.Do(func() {}) // none starts after this
	if db.group != nil {
		db.group.close()
		db.groupDone.Wait()
	}
	if db.stopCheckpointer != nil {
		db.stopCheckpointer()
		db.stopCheckpointer = nil
	}
	err := db.Write.Close()
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
	}
	return err
}

// InTx runs fn in a write transaction and commits it if fn returns nil. On
// SQLite the transaction takes the write lock at BEGIN (BEGIN IMMEDIATE), so
// it never fails part-way for lack of it. fn must not make network calls:
// a transaction holds locks that others wait on.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if v := recover(); v != nil {
			tx.Rollback() // give the connection back before the panic goes on
			panic(v)
		}
	}()
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// Redact removes the password from a database URL.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// WithApplicationName names the connections of a PostgreSQL URL, so that
// the server's pg_stat_activity tells which instance each belongs to (and
// whether an instance is connected at all); a name already in the URL is
// replaced. Other URLs are returned as they are.
func WithApplicationName(rawURL, name string) string {
	if !strings.HasPrefix(rawURL, "postgres://") && !strings.HasPrefix(rawURL, "postgresql://") {
		return rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL // Open reports it
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}
