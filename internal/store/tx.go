package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup/internal/sqldb"
)

// Tx is one transaction on paidup's state. Jobs enqueued on it (emails,
// syncs) exist if and only if it commits: the transactional outbox.
type Tx struct {
	tx  txConn
	s   *Store
	now time.Time
	// timeline holds the facts appended, written when fn returns.
	timeline [][]any
}

// txConn runs a transaction's statements. A statement is not cancelled
// part-way when its caller's context ends: on SQLite that would roll back
// the whole group the transaction commits with (see sqldb.InGroupTx). A
// transaction is short and makes no network calls, so it runs to its end;
// a context ended before it starts still stops it.
type txConn struct{ *sql.Tx }

func (c txConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.Tx.ExecContext(sqldb.NoCancel(ctx), query, args...)
}

func (c txConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.Tx.QueryContext(sqldb.NoCancel(ctx), query, args...)
}

func (c txConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.Tx.QueryRowContext(sqldb.NoCancel(ctx), query, args...)
}

// Now is the business time the transaction started at.
func (tx *Tx) Now() time.Time { return tx.now }

// InTx runs fn in a transaction and commits if fn returns nil. fn must not
// make network calls. On SQLite, transactions waiting to commit at the
// same time commit together, with one disk sync (see sqldb.InGroupTx).
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.inTx(ctx, fn, s.db.InGroupTx)
}

// InTxFirst is InTx for a transaction someone is waiting on, such as a
// webhook's acknowledgement: on SQLite it commits ahead of the
// transactions waiting with it (see sqldb.InGroupTxFirst).
func (s *Store) InTxFirst(ctx context.Context, fn func(tx *Tx) error) error {
	return s.inTx(ctx, fn, s.db.InGroupTxFirst)
}

func (s *Store) inTx(ctx context.Context, fn func(tx *Tx) error, run func(context.Context, func(*sql.Tx) error) error) error {
	return run(ctx, func(sqlTx *sql.Tx) error {
		tx := &Tx{tx: txConn{sqlTx}, s: s, now: s.stamp()}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.flushTimeline(ctx)
	})
}

// Enqueue inserts a job in the transaction.
func (tx *Tx) Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := tx.s.jobs.InsertTx(sqldb.NoCancel(ctx), tx.tx.Tx, args, opts); err != nil {
		return fmt.Errorf("enqueueing %s job: %w", args.Kind(), err)
	}
	return nil
}

// EnqueueMany inserts several jobs in the transaction.
func (tx *Tx) EnqueueMany(ctx context.Context, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	if _, err := tx.s.jobs.InsertManyTx(sqldb.NoCancel(ctx), tx.tx.Tx, jobs); err != nil {
		return fmt.Errorf("enqueueing %d jobs: %w", len(jobs), err)
	}
	return nil
}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newID returns a new random id with a type prefix, e.g. cu_7k3mq9xd….
func newID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	var sb strings.Builder
	sb.WriteString(prefix)
	sb.WriteByte('_')
	for _, c := range b {
		sb.WriteByte(idAlphabet[c&31])
	}
	return sb.String()
}

// nullTime is a nullable time column.
func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: ts(t), Valid: true}
}

func timeOf(n sql.NullTime) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return n.Time.UTC()
}

// aggregateTime scans a time computed by the query (min, max), which
// SQLite returns as the text it stores, not as a time.
type aggregateTime struct{ time.Time }

// sqliteTimeLayouts are the forms SQLite stores times in.
var sqliteTimeLayouts = []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", time.RFC3339Nano}

func (a *aggregateTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		a.Time = time.Time{}
		return nil
	case time.Time:
		a.Time = v.UTC()
		return nil
	case string:
		for _, layout := range sqliteTimeLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				a.Time = t.UTC()
				return nil
			}
		}
		return fmt.Errorf("reading a time from %q", v)
	}
	return fmt.Errorf("reading a time from %T", src)
}
