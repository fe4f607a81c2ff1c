package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// lockedBuffer is a log written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines are the log's records, decoded.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

type failArgs struct{}

func (failArgs) Kind() string { return "test_fail" }

// River's own informational lines — every producer's job counts every
// few seconds, its start and stop, maintenance reports — are not in a log
// at info level; its errors are, and so are its lines about a job that
// failed, as warnings. At debug level they all appear. A real
// queue runs jobs for over five seconds, long enough for River to report
// its job counts.
func TestRiverInfoLinesStayOutOfTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a queue for six seconds")
	}
	run := func(t *testing.T, level slog.Level) []map[string]any {
		ctx := context.Background()
		db := sqldbtest.Open(t, sqldb.SQLite)
		_, err := queue.Migrate(ctx, db)
		require.NoError(t, err)
		logs := &lockedBuffer{}
		w := &noteWorker{done: make(chan string, 1000)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[failArgs]) error { panic("a bug") }))
		c, err := queue.New(db, queue.Config{Workers: workers, PollInterval: 20 * time.Millisecond,
			Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))})
		require.NoError(t, err)
		require.NoError(t, c.Start(ctx))
		_, err = c.Insert(ctx, failArgs{}, &river.InsertOpts{MaxAttempts: 1})
		require.NoError(t, err)
		for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); {
			_, err := c.Insert(ctx, noteArgs{Text: "tick"}, nil)
			require.NoError(t, err)
			time.Sleep(100 * time.Millisecond)
		}
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(stop))
		return logs.lines(t)
	}
	has := func(lines []map[string]any, level, msg string) bool {
		for _, l := range lines {
			if l["level"] == level && strings.Contains(l["msg"].(string), msg) {
				return true
			}
		}
		return false
	}

	var info, debug []map[string]any
	var wg sync.WaitGroup
	wg.Go(func() { info = run(t, slog.LevelInfo) })
	wg.Go(func() { debug = run(t, slog.LevelDebug) })
	wg.Wait()

	require.True(t, has(debug, "INFO", "Producer job counts"), "at debug level River's job counts are logged")
	require.True(t, has(debug, "INFO", "River client started"))
	for _, l := range info {
		require.NotEqual(t, "INFO", l["level"], "River's informational line at info level: %v", l)
		require.NotEqual(t, "DEBUG", l["level"], "%v", l)
	}
	require.True(t, has(info, "ERROR", "panic"), "River's errors are logged at info level: %v", info)
	require.True(t, has(info, "WARN", "Job panicked"), "a job that failed is logged at info level, as a warning: %v", info)
}
