// Package store keeps paidup's state — checkout attempts, webhook events and
// what follows from them — in SQLite or PostgreSQL, with the same SQL on
// both.
package store

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"time"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations are paidup's tables. Version 11 is written in Go
// (renormalise.go).
var Migrations = sqldb.Migrations{
	Table:    "paidup_schema_version",
	SQLite:   sub("migrations/sqlite"),
	Postgres: sub("migrations/postgres"),
	Go:       map[int64]func(context.Context, *sql.Tx) error{11: migration11},
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
	db   *sqldb.DB
	now  func() time.Time
	jobs *queue.Client
	// sessionNow, if set, is the clock account sessions live by (see
	// SessionsOnWallClock).
	sessionNow func() time.Time
}

// New returns a store on db; now is the business clock.
func New(db *sqldb.DB, now func() time.Time) (*Store, error) {
	jobs, err := queue.NewInserter(db)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: now, jobs: jobs}, nil
}

// UseQueue makes the store enqueue jobs through c, the client that works
// them, so that a job is fetched as soon as it is inserted rather than at
// the next poll. Call it before the store is used.
func (s *Store) UseQueue(c *queue.Client) { s.jobs = c }

// Now is the business clock.
func (s *Store) Now() time.Time { return s.now() }

// DB returns the underlying database.
func (s *Store) DB() *sqldb.DB { return s.db }

// ts is a time as paidup stores it: UTC, to the microsecond (PostgreSQL's
// precision), so that what is read back equals what was written.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (s *Store) stamp() time.Time { return ts(s.now()) }
