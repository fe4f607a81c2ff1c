// Package sqldbtest gives tests a fresh, empty database on every engine
// paidup supports, so that one test suite runs unchanged on SQLite and
// PostgreSQL.
//
// PostgreSQL tests need a server: set PAIDUP_TEST_POSTGRES_URL to a URL whose
// user may create databases (.ci/postgres starts a throwaway one). Without
// it they skip, unless PAIDUP_TEST_REQUIRE_POSTGRES=1, as in CI, where they
// fail instead.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/sqldb"
)

// Engines lists the engines every storage test runs on.
var Engines = []sqldb.Engine{sqldb.SQLite, sqldb.Postgres}

// Each runs fn as a parallel subtest, named after the engine, once per
// engine.
func Each(t *testing.T, fn func(t *testing.T, engine sqldb.Engine)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			fn(t, e)
		})
	}
}

// URL returns the URL of a new, empty database on engine, removed when the
// test ends. On PostgreSQL it skips (or fails, in CI) when no server is
// configured.
func URL(t testing.TB, engine sqldb.Engine) string {
	t.Helper()
	switch engine {
	case sqldb.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "paidup.db")
	case sqldb.Postgres:
		return postgresURL(t)
	}
	t.Fatalf("unknown engine %q", engine)
	return ""
}

// Open opens a new, empty database on engine and closes it when the test
// ends.
func Open(t testing.TB, engine sqldb.Engine) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), URL(t, engine))
	if err != nil {
		t.Fatalf("opening %s database: %v", engine, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func postgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("PAIDUP_TEST_POSTGRES_URL")
	if admin == "" {
		if os.Getenv("PAIDUP_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("PAIDUP_TEST_REQUIRE_POSTGRES=1 but PAIDUP_TEST_POSTGRES_URL is not set")
		}
		t.Skip("PostgreSQL tests skipped: set PAIDUP_TEST_POSTGRES_URL=postgres://USER@127.0.0.1:PORT/postgres?sslmode=disable (`.ci/postgres start DIR PORT` starts a throwaway server)")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("PAIDUP_TEST_POSTGRES_URL: %v", err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("PAIDUP_TEST_POSTGRES_URL: %v", err)
	}
	defer db.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "paidup_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}
