package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxGroup bounds how many transactions one group commit carries.
const maxGroup = 64

// InGroupTx runs fn in a write transaction and commits it if fn returns
// nil, like InTx, and returns once the commit is durable.
//
// On SQLite, whose single writer commits one transaction at a time, the
// transactions that wait while one commits are committed together: each fn
// runs in its own savepoint inside one database transaction, in the order
// they arrived, and one commit (one disk sync) makes them all durable. A
// fn that fails is rolled back to its savepoint alone; the others commit.
// The outcome for each caller is what it would have been had its
// transaction run alone, after the ones before it. fn's statements must not
// be cancelled part-way (SQLite would roll back the whole group): run them
// with a context that cannot be cancelled (see NoCancel). On PostgreSQL,
// where transactions commit concurrently, it is InTx.
func (db *DB) InGroupTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.inGroupTx(ctx, fn, false)
}

// InGroupTxFirst is InGroupTx for a transaction someone is waiting on, such
// as a webhook's acknowledgement: on SQLite, the transactions waiting with
// it that are not first wait for the next group, so that its group commits
// sooner.
func (db *DB) InGroupTxFirst(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.inGroupTx(ctx, fn, true)
}

func (db *DB) inGroupTx(ctx context.Context, fn func(tx *sql.Tx) error, first bool) error {
	if db.Engine != SQLite {
		return db.InTx(ctx, fn)
	}
	db.groupOnce.Do(func() {
		db.group = &groupCommitter{db: db, reqs: make(chan *groupReq), first: make(chan *groupReq), quit: make(chan struct{})}
		db.groupDone.Add(1)
		go func() { defer db.groupDone.Done(); db.group.run() }()
	})
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan groupResult, 1)}
	reqs := db.group.reqs
	if first {
		reqs = db.group.first
	}
	select {
	case reqs <- r:
	case <-db.group.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Taken: wait for the outcome, which is known once the group commits.
	res := <-r.done
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}

// NoCancel returns ctx without its cancellation, for the statements of a
// group transaction.
func NoCancel(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

var errClosed = errors.New("database closed")

type groupCommitter struct {
	db    *DB
	reqs  chan *groupReq
	first chan *groupReq // requests that go ahead of reqs
	quit  chan struct{}
	stop  sync.Once
}

type groupReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan groupResult
	res  groupResult
}

type groupResult struct {
	err   error
	panic any
}

// run commits groups of transactions until the database is closed.
// Requests that arrive while a group commits form the next group; when
// some of them go first, they form it alone.
func (g *groupCommitter) run() {
	for {
		var batch []*groupReq
		first := false
		select {
		case r := <-g.first:
			batch, first = append(batch, r), true
		default:
			select {
			case r := <-g.first:
				batch, first = append(batch, r), true
			case r := <-g.reqs:
				batch = append(batch, r)
			case <-g.quit:
				return
			}
		}
	gather:
		for len(batch) < maxGroup {
			select {
			case r := <-g.first:
				batch = append(batch, r)
				continue
			default:
			}
			if first {
				break // the others wait for the next group
			}
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		g.commit(batch)
	}
}

func (g *groupCommitter) close() {
	g.stop.Do(func() { close(g.quit) })
}

// commit runs a group in one transaction. If the transaction itself fails
// part-way (not a fn: the savepoint machinery or the connection), each
// request is run again alone.
func (g *groupCommitter) commit(batch []*groupReq) {
	var live []*groupReq
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- groupResult{err: err} // given up before it started
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		r := live[0]
		r.done <- g.alone(r)
		return
	}
	ctx := context.Background()
	tx, err := g.db.Write.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range live {
			r.done <- groupResult{err: fmt.Errorf("beginning transaction: %w", err)}
		}
		return
	}
	for i, r := range live {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT paidup_group`); err != nil {
			tx.Rollback()
			g.oneByOne(live)
			return
		}
		r.res = call(r.fn, tx)
		var err error
		if r.res.err != nil || r.res.panic != nil {
			_, err = tx.ExecContext(ctx, `ROLLBACK TO paidup_group`)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `RELEASE paidup_group`)
		}
		if err != nil {
			// The transaction is gone (SQLite rolls back the whole of it
			// on some errors): r has its outcome, the others are retried
			// alone.
			tx.Rollback()
			if r.res.err == nil && r.res.panic == nil {
				r.res.err = fmt.Errorf("ending savepoint: %w", err)
			}
			r.done <- r.res
			g.oneByOne(append(live[:i:i], live[i+1:]...))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("committing transaction: %w", err)
		for _, r := range live {
			if r.res.err == nil && r.res.panic == nil {
				r.res.err = err
			}
			r.done <- r.res
		}
		return
	}
	for _, r := range live {
		r.done <- r.res
	}
}

// oneByOne runs each request in a transaction of its own.
func (g *groupCommitter) oneByOne(reqs []*groupReq) {
	for _, r := range reqs {
		r.done <- g.alone(r)
	}
}

// alone runs one request in a transaction of its own, as InTx does.
func (g *groupCommitter) alone(r *groupReq) groupResult {
	tx, err := g.db.Write.BeginTx(context.Background(), nil)
	if err != nil {
		return groupResult{err: fmt.Errorf("beginning transaction: %w", err)}
	}
	res := call(r.fn, tx)
	if res.err != nil || res.panic != nil {
		tx.Rollback()
		return res
	}
	if err := tx.Commit(); err != nil {
		return groupResult{err: fmt.Errorf("committing transaction: %w", err)}
	}
	return res
}

// call runs fn, turning a panic into a result that the caller's goroutine
// raises again.
func call(fn func(tx *sql.Tx) error, tx *sql.Tx) (res groupResult) {
	defer func() {
		if v := recover(); v != nil {
			res = groupResult{panic: v}
		}
	}()
	return groupResult{err: fn(tx)}
}
