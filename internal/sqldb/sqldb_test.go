package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

func setup(t *testing.T, engine sqldb.Engine) *sqldb.DB {
	t.Helper()
	db := sqldbtest.Open(t, engine)
	_, err := db.Write.Exec(`CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
	require.NoError(t, err)
	return db
}

func count(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.Read.QueryRow(`SELECT count(*) FROM items`).Scan(&n))
	return n
}

// Many transactions at once each commit or fail as if alone: one that
// fails, or panics, takes nothing else with it.
func TestInGroupTx(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		db := setup(t, engine)
		ctx := context.Background()
		const n = 200
		errs := make([]error, n)
		panics := make([]any, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				defer func() { panics[i] = recover() }()
				errs[i] = db.InGroupTx(ctx, func(tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO items (id, n) VALUES ($1, $2)`, fmt.Sprint(i), i); err != nil {
						return err
					}
					switch i % 10 {
					case 3:
						return errors.New("refused") // after writing: rolled back
					case 5:
						panic("boom")
					case 7:
						// A statement error leaves the others alone.
						_, err := tx.ExecContext(ctx, `INSERT INTO items (id, n) VALUES ($1, $2)`, fmt.Sprint(i), i)
						return err
					}
					return nil
				})
			})
		}
		wg.Wait()
		want := 0
		for i := range n {
			switch i % 10 {
			case 3:
				require.EqualError(t, errs[i], "refused")
			case 5:
				require.Equal(t, "boom", panics[i], "the panic is raised in the caller")
			case 7:
				require.Error(t, errs[i])
			default:
				require.NoError(t, errs[i])
				require.Nil(t, panics[i])
				want++
			}
		}
		require.Equal(t, want, count(t, db))
		rows, err := db.Read.Query(`SELECT n FROM items`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var i int
			require.NoError(t, rows.Scan(&i))
			require.NotContains(t, []int{3, 5, 7}, i%10, "a failed transaction's rows were committed")
		}
	})
}

// A caller that gives up before its transaction starts is told so, and
// nothing of it is written.
func TestInGroupTxCancelled(t *testing.T) {
	db := setup(t, sqldb.SQLite)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.InGroupTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO items (id, n) VALUES ('x', 1)`)
		return err
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, count(t, db))
}

// After Close, a group transaction fails rather than hang.
func TestInGroupTxAfterClose(t *testing.T) {
	db, err := sqldb.Open(context.Background(), sqldbtest.URL(t, sqldb.SQLite))
	require.NoError(t, err)
	_, err = db.Write.Exec(`CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, db.InGroupTx(context.Background(), func(tx *sql.Tx) error { return nil }))
	require.NoError(t, db.Close())
	require.Error(t, db.InGroupTx(context.Background(), func(tx *sql.Tx) error { return nil }))
}

// A SQLite connection reuses its prepared statements, and a statement
// whose rows are still open is not run again underneath them: the same
// query inside the loop gets a statement of its own.
func TestStatementCache(t *testing.T) {
	db := setup(t, sqldb.SQLite)
	ctx := context.Background()
	for i := range 5 {
		_, err := db.Write.ExecContext(ctx, `INSERT INTO items (id, n) VALUES ($1, $2)`, fmt.Sprint(i), i)
		require.NoError(t, err)
	}
	tx, err := db.Write.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	const q = `SELECT id, n FROM items WHERE n >= $1 ORDER BY n`
	rows, err := tx.QueryContext(ctx, q, 0)
	require.NoError(t, err)
	var outer []int
	for rows.Next() {
		var id string
		var n int
		require.NoError(t, rows.Scan(&id, &n))
		outer = append(outer, n)
		var inner int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`) AS s`, n).Scan(&inner))
		require.Equal(t, 5-n, inner)
		// The very same text while its rows are open.
		var first int
		require.NoError(t, tx.QueryRowContext(ctx, q, n).Scan(new(string), &first))
		require.Equal(t, n, first)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, []int{0, 1, 2, 3, 4}, outer)

	// More distinct statements than the cache keeps still run right.
	for i := range 300 {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + count(*) FROM items`, i)).Scan(&n))
		require.Equal(t, i+5, n)
	}
	// And a statement evicted while its rows were open is finalized once
	// they close.
	rows, err = tx.QueryContext(ctx, q, 0)
	require.NoError(t, err)
	for i := range 300 {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + 1`, i)).Scan(&n))
	}
	var seen int
	for rows.Next() {
		seen++
	}
	require.NoError(t, rows.Close())
	require.Equal(t, 5, seen)
}
