package sqldb_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A read-only database reads, in use by a writer or not, and refuses
// every write.
func TestOpenReadOnly(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		dbURL := sqldbtest.URL(t, engine)
		w, err := sqldb.Open(ctx, dbURL)
		require.NoError(t, err)
		_, err = w.Write.Exec(`CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
		require.NoError(t, err)
		_, err = w.Write.Exec(`INSERT INTO items (id, n) VALUES ('a', 1)`)
		require.NoError(t, err)

		readWhileInUse := func() {
			ro, err := sqldb.OpenReadOnly(ctx, dbURL)
			require.NoError(t, err)
			defer ro.Close()
			var n int
			require.NoError(t, ro.Read.QueryRow(`SELECT count(*) FROM items`).Scan(&n))
			require.Equal(t, 1, n)
			ok, err := ro.HasTable(ctx, "items")
			require.NoError(t, err)
			require.True(t, ok)
			ok, err = ro.HasTable(ctx, "nothing")
			require.NoError(t, err)
			require.False(t, ok)

			_, err = ro.Write.Exec(`INSERT INTO items (id, n) VALUES ('b', 2)`)
			require.Error(t, err, "no write")
			_, err = ro.Write.Exec(`UPDATE items SET n = 5`)
			require.Error(t, err)
			_, err = ro.Write.Exec(`CREATE TABLE more (id TEXT)`)
			require.Error(t, err)
			err = ro.InTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.Exec(`DELETE FROM items`)
				return err
			})
			require.Error(t, err)
		}
		readWhileInUse()
		var n int
		require.NoError(t, w.Read.QueryRow(`SELECT sum(n) FROM items`).Scan(&n))
		require.Equal(t, 1, n, "nothing was written")

		// Not in use: on SQLite no -wal or -shm file is left behind.
		require.NoError(t, w.Close())
		var dir string
		var before []string
		if engine == sqldb.SQLite {
			dir = filepath.Dir(dbURL[len("sqlite:"):])
			before = files(t, dir)
			require.Equal(t, []string{"paidup.db"}, before)
		}
		readWhileInUse()
		if engine == sqldb.SQLite {
			require.Equal(t, before, files(t, dir), "nothing created")
		}
	})
}

// Where there is no database — no file, not a database, a directory, no
// such PostgreSQL database — OpenReadOnly says so and creates nothing.
func TestOpenReadOnlyWhereThereIsNone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	require.NoError(t, os.WriteFile(junk, []byte("not a database, but a file with text in it that is long enough to have a header"), 0o600))
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	urls := map[string]string{
		"sqlite:" + filepath.Join(dir, "missing.db"):         filepath.Join(dir, "missing.db"),
		"sqlite:" + filepath.Join(dir, "nodir", "paidup.db"): filepath.Join(dir, "nodir", "paidup.db"),
		"sqlite:" + junk: junk,
		"sqlite:" + sub:  sub,
	}
	if admin := os.Getenv("PAIDUP_TEST_POSTGRES_URL"); admin != "" || os.Getenv("PAIDUP_TEST_REQUIRE_POSTGRES") == "1" {
		u, err := url.Parse(sqldbtest.URL(t, sqldb.Postgres))
		require.NoError(t, err)
		u.Path = "/paidup_no_such_database"
		urls[u.String()] = sqldb.Redact(u.String())
	}
	before := files(t, dir)
	for rawURL, location := range urls {
		_, err := sqldb.OpenReadOnly(ctx, rawURL)
		var none *sqldb.NoDatabaseError
		require.ErrorAs(t, err, &none, rawURL)
		require.Equal(t, location, none.Location)
	}
	require.Equal(t, before, files(t, dir), "nothing created")
	require.True(t, slices.Contains(before, "empty.db"))

	// An empty file is a database without tables, which the caller tells.
	ro, err := sqldb.OpenReadOnly(ctx, "sqlite:"+empty)
	require.NoError(t, err)
	ok, err := ro.HasTable(ctx, "paidup_schema_version")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, ro.Close())
	require.Equal(t, before, files(t, dir), "nothing created")
}
