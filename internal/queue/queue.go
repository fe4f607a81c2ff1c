// Package queue runs paidup's background jobs — emails, syncs, re-checks —
// on River, on SQLite or PostgreSQL. State changes enqueue their effects in
// the same transaction (a transactional outbox): a job exists if and only if
// the change that caused it was committed.
package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/paidup/paidup/internal/sqldb"
)

// Client is River's client over database/sql, on either engine.
type Client = river.Client[*sql.Tx]

func driver(db *sqldb.DB) riverdriver.Driver[*sql.Tx] {
	if db.Engine == sqldb.SQLite {
		// River shares SQLite's single writer connection with paidup; River
		// calls made inside a paidup transaction must be the *Tx variants.
		return sqliteDriver{riversqlite.New(db.Write)}
	}
	return riverdatabasesql.New(db.Write)
}

// Migrate creates or upgrades River's tables.
func Migrate(ctx context.Context, db *sqldb.DB) (int, error) {
	m, err := rivermigrate.New(driver(db), nil)
	if err != nil {
		return 0, fmt.Errorf("loading job queue migrations: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, fmt.Errorf("migrating job queue: %w", err)
	}
	return len(res.Versions), nil
}

// Config says which jobs a client works and how.
type Config struct {
	// ID names this instance, the same across its restarts, so that after
	// a crash it can take back the jobs it was running (see RescueOwn).
	ID           string
	Workers      *river.Workers
	PeriodicJobs []*river.PeriodicJob
	// Logger takes River's warnings and errors; its informational lines
	// only when Logger is at debug level (see quiet).
	Logger *slog.Logger
	// Expected tells a failure that is part of normal operation (the
	// processor not answering for a moment) from one a person should look
	// at: a job that failed expectedly and will be retried is logged at
	// debug level for its first few attempts, not as a warning.
	Expected func(error) bool
	// PollInterval is how often idle workers look for new jobs; neither
	// database/sql driver has LISTEN/NOTIFY. Defaults to one second.
	PollInterval time.Duration
	// FetchCooldown is the least time between two fetches of new jobs; a
	// fetch takes up to MaxWorkers jobs, so it bounds how many jobs a
	// second start. Defaults to PollInterval, at most 100 ms.
	FetchCooldown time.Duration
	MaxWorkers    int // per process; defaults to 10
}

// New returns a client that inserts jobs and, once started, works them.
// Leader election (for periodic jobs and maintenance) happens among all
// clients sharing the database.
func New(db *sqldb.DB, cfg Config) (*Client, error) {
	poll := cfg.PollInterval
	if poll == 0 {
		poll = time.Second
	}
	cooldown := cfg.FetchCooldown
	if cooldown == 0 {
		cooldown = min(poll, 100*time.Millisecond)
	}
	workers := cfg.MaxWorkers
	if workers == 0 {
		workers = 10
	}
	logger := slog.New(slog.DiscardHandler)
	retries := retryLog{log: logger, expected: cfg.Expected}
	if cfg.Logger != nil {
		logger = slog.New(quiet{cfg.Logger.Handler()})
		retries.log = cfg.Logger
	}
	c, err := river.NewClient(driver(db), &river.Config{
		ID:                   cfg.ID,
		JobTimeout:           time.Minute,
		RescueStuckJobsAfter: 5 * time.Minute,
		Workers:              cfg.Workers,
		PeriodicJobs:         cfg.PeriodicJobs,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		FetchPollInterval:    poll,
		FetchCooldown:        cooldown,
		PollOnly:             true,
		Logger:               logger,
		ErrorHandler:         retries,
		MaxAttempts:          25,
	})
	if err != nil {
		return nil, fmt.Errorf("creating job queue client: %w", err)
	}
	return c, nil
}

// quiet passes on River's warnings and errors, and its informational
// lines only to a log at debug level: River says every few seconds how
// many jobs each producer has run, and more of the same, which would
// drown paidup's own log. River reports a job that failed for good ("Job
// errored", "Job panicked") at info level too; those are what an operator
// must see, so they pass, as warnings. A job that failed and will be
// retried is retryLog's to report.
type quiet struct{ slog.Handler }

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return q.Handler.Enabled(ctx, l) || l == slog.LevelInfo && q.Handler.Enabled(ctx, slog.LevelWarn)
}

func (q quiet) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn && !q.Handler.Enabled(ctx, slog.LevelDebug) {
		if !jobFailed(r.Message) {
			return nil
		}
		r.Level = slog.LevelWarn
	}
	return q.Handler.Handle(ctx, r)
}

// jobFailed reports whether a line of River's says that a job failed
// for good, or panicked.
func jobFailed(msg string) bool {
	return strings.HasSuffix(msg, "Job errored") || strings.Contains(msg, "Job panicked")
}

func (q quiet) WithAttrs(attrs []slog.Attr) slog.Handler { return quiet{q.Handler.WithAttrs(attrs)} }
func (q quiet) WithGroup(name string) slog.Handler       { return quiet{q.Handler.WithGroup(name)} }

// NewInserter returns a client that only inserts jobs, for commands such as
// `paidup check` that must not work them.
func NewInserter(db *sqldb.DB) (*Client, error) {
	c, err := river.NewClient(driver(db), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("creating job queue client: %w", err)
	}
	return c, nil
}

// RescueOwn makes the jobs this instance was running when it last stopped —
// killed in the middle of sending an email, say — available again at once,
// instead of after River's stuck-job rescue, minutes later, and gives up the
// leadership it may still hold. Call it before the client starts, once the
// instance's address is bound (so no live process has the same id). Jobs of
// other, live instances are not touched.
func RescueOwn(ctx context.Context, db *sqldb.DB, id string) (int64, error) {
	var q string
	if db.Engine == sqldb.SQLite {
		q = `UPDATE river_job SET state = 'available'
			WHERE state = 'running' AND json_extract(attempted_by, '$[#-1]') = $1`
	} else {
		q = `UPDATE river_job SET state = 'available'
			WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`
	}
	// A running job was scheduled in the past, so it is due at once.
	res, err := db.Write.ExecContext(ctx, q, id)
	if err != nil {
		return 0, fmt.Errorf("rescuing jobs of %s: %w", id, err)
	}
	// If this instance was the leader when it died, its lease would keep
	// periodic jobs (the reconciler) from running until it expired.
	if _, err := db.Write.ExecContext(ctx, `DELETE FROM river_leader WHERE leader_id = $1`, id); err != nil {
		return 0, fmt.Errorf("releasing the leadership of %s: %w", id, err)
	}
	return res.RowsAffected()
}

// RescueOrphans makes available again the jobs of the given kinds that an
// instance which is gone left running. On PostgreSQL an instance is gone
// when no connection to the database bears its id as application_name
// (see sqldb.WithApplicationName): the server drops a dead process's
// connections at once. It is for periodic jobs, which are unique while
// they run: one left running by an instance killed mid-run, and never
// started again under its name, would hold back every later run until
// River's stuck-job rescue, minutes later. The kinds must be safe to run
// twice, since an instance that lost its connections for a moment (the
// database restarting) looks gone too. On SQLite, with one instance, it
// does nothing.
func RescueOrphans(ctx context.Context, db *sqldb.DB, kinds []string) (int64, error) {
	if db.Engine != sqldb.Postgres {
		return 0, nil
	}
	// application_name keeps at most 63 bytes.
	res, err := db.Write.ExecContext(ctx, `UPDATE river_job SET state = 'available'
		WHERE state = 'running' AND kind = ANY($1) AND NOT EXISTS (
			SELECT 1 FROM pg_stat_activity a WHERE a.datname = current_database()
				AND a.application_name = left(river_job.attempted_by[array_length(river_job.attempted_by, 1)], 63))`, kinds)
	if err != nil {
		return 0, fmt.Errorf("rescuing jobs of instances gone: %w", err)
	}
	return res.RowsAffected()
}
