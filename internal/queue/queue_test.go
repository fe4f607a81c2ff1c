package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

type noteArgs struct{ Text string }

func (noteArgs) Kind() string { return "test_note" }

type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	done chan string
}

func (w *noteWorker) Work(ctx context.Context, j *river.Job[noteArgs]) error {
	w.done <- j.Args.Text
	return nil
}

// A job is enqueued with the state change that causes it: rolled back
// together, committed together, and then worked exactly once.
func TestEnqueueIsTransactional(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := sqldbtest.Open(t, engine)
		_, err := queue.Migrate(ctx, db)
		require.NoError(t, err)
		_, err = db.Write.ExecContext(ctx, `CREATE TABLE notes (text TEXT NOT NULL)`)
		require.NoError(t, err)

		w := &noteWorker{done: make(chan string, 10)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c, err := queue.New(db, queue.Config{Workers: workers, PollInterval: 20 * time.Millisecond})
		require.NoError(t, err)

		errBoom := errors.New("boom")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notes (text) VALUES ($1)`, "rolled back"); err != nil {
				return err
			}
			if _, err := c.InsertTx(ctx, tx, noteArgs{Text: "rolled back"}, nil); err != nil {
				return err
			}
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notes (text) VALUES ($1)`, "committed"); err != nil {
				return err
			}
			_, err := c.InsertTx(ctx, tx, noteArgs{Text: "committed"}, nil)
			return err
		})
		require.NoError(t, err)

		require.NoError(t, c.Start(ctx))
		t.Cleanup(func() { c.Stop(context.Background()) })
		select {
		case got := <-w.done:
			require.Equal(t, "committed", got)
		case <-time.After(10 * time.Second):
			t.Fatal("committed job was not worked")
		}
		require.Eventually(t, func() bool {
			h, err := queue.CheckHealth(ctx, db, c, time.Now())
			require.NoError(t, err)
			return h.Counts["completed"] == 1
		}, 10*time.Second, 20*time.Millisecond)
		h, err := queue.CheckHealth(ctx, db, c, time.Now())
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"completed": 1}, h.Counts, "the rolled-back job must not exist")
		select {
		case got := <-w.done:
			t.Fatalf("job worked twice or rolled-back job worked: %q", got)
		default:
		}
	})
}

// Migrating twice is harmless: instances restart and run migrations at
// every start.
func TestMigrateIsIdempotent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := sqldbtest.Open(t, engine)
		n, err := queue.Migrate(ctx, db)
		require.NoError(t, err)
		require.Positive(t, n)
		n, err = queue.Migrate(ctx, db)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}
