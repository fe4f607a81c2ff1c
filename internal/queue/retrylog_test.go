package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

type failingArgs struct{ Why string }

func (failingArgs) Kind() string { return "test_failing" }

var errProcessorDown = errors.New("the processor is not answering")

// A job that fails because the processor is not answering, and will be
// retried, is not a warning in a log at info level (it is at debug); a
// job that fails for any other reason is, once each time it will be
// retried.
func TestExpectedRetriesStayOutOfTheLog(t *testing.T) {
	run := func(t *testing.T, level slog.Level) []map[string]any {
		ctx := context.Background()
		db := sqldbtest.Open(t, sqldb.SQLite)
		_, err := queue.Migrate(ctx, db)
		require.NoError(t, err)
		logs := &lockedBuffer{}
		workers := river.NewWorkers()
		river.AddWorker(workers, river.WorkFunc(func(_ context.Context, j *river.Job[failingArgs]) error {
			if j.Args.Why == "expected" {
				return errProcessorDown
			}
			return errors.New("a bug")
		}))
		c, err := queue.New(db, queue.Config{Workers: workers, PollInterval: 20 * time.Millisecond,
			Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})),
			Expected: func(err error) bool { return errors.Is(err, errProcessorDown) }})
		require.NoError(t, err)
		require.NoError(t, c.Start(ctx))
		for _, why := range []string{"expected", "unexpected"} {
			_, err = c.Insert(ctx, failingArgs{Why: why}, &river.InsertOpts{MaxAttempts: 5})
			require.NoError(t, err)
		}
		require.Eventually(t, func() bool {
			var n int
			require.NoError(t, db.Read.QueryRow(`SELECT count(*) FROM river_job WHERE state = 'retryable'`).Scan(&n))
			return n == 2
		}, 10*time.Second, 20*time.Millisecond, "both jobs failed once and wait for their retry")
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(stop))
		return logs.lines(t)
	}
	find := func(lines []map[string]any, errText string) []string {
		var levels []string
		for _, l := range lines {
			if s, _ := l["err"].(string); strings.Contains(s, errText) {
				levels = append(levels, l["level"].(string))
			}
			if s, _ := l["error"].(string); strings.Contains(s, errText) {
				levels = append(levels, l["level"].(string))
			}
		}
		return levels
	}

	info := run(t, slog.LevelInfo)
	require.Empty(t, find(info, "not answering"), "an expected retry at info level: %v", info)
	bug := find(info, "a bug")
	require.NotEmpty(t, bug, "a job failing for another reason is a warning: %v", info)
	for _, level := range bug {
		require.Equal(t, "WARN", level, "a job failing for another reason is a warning each time, not River's line too: %v", info)
	}

	debug := run(t, slog.LevelDebug)
	require.Contains(t, find(debug, "not answering"), "DEBUG", "at debug level the expected retry shows: %v", debug)
}
