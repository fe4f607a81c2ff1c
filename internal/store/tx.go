package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
)

// Tx is one transaction on paidup's state. Jobs enqueued on it (emails,
// syncs) exist if and only if it commits: the transactional outbox.
type Tx struct {
	tx  *sql.Tx
	s   *Store
	now time.Time
}

// Now is the business time the transaction started at.
func (tx *Tx) Now() time.Time { return tx.now }

// InTx runs fn in a transaction and commits if fn returns nil. fn must not
// make network calls.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.db.InTx(ctx, func(sqlTx *sql.Tx) error {
		return fn(&Tx{tx: sqlTx, s: s, now: s.stamp()})
	})
}

// Enqueue inserts a job in the transaction.
func (tx *Tx) Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := tx.s.jobs.InsertTx(ctx, tx.tx, args, opts); err != nil {
		return fmt.Errorf("enqueueing %s job: %w", args.Kind(), err)
	}
	return nil
}

// EnqueueMany inserts several jobs in the transaction.
func (tx *Tx) EnqueueMany(ctx context.Context, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	if _, err := tx.s.jobs.InsertManyTx(ctx, tx.tx, jobs); err != nil {
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
