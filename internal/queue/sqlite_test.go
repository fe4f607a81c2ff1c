package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

type chunkArgs struct{ N int }

func (chunkArgs) Kind() string { return "test_chunk" }

// Finished jobs recorded in chunks each get their own outcome: more jobs
// than one chunk holds, alternately completed and failed, end in the state
// given for each, with its error and retry time.
func TestCompletionsInChunks(t *testing.T) {
	ctx := context.Background()
	db := sqldbtest.Open(t, sqldb.SQLite)
	_, err := Migrate(ctx, db)
	require.NoError(t, err)
	c, err := NewInserter(db)
	require.NoError(t, err)
	const n = 3*completionChunk + 5
	var params []river.InsertManyParams
	for i := range n {
		params = append(params, river.InsertManyParams{Args: chunkArgs{N: i}})
	}
	inserted, err := c.InsertMany(ctx, params)
	require.NoError(t, err)
	_, err = db.Write.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now', 'subsec')`)
	require.NoError(t, err)

	now := time.Now().UTC()
	retryAt := now.Add(time.Hour).Truncate(time.Millisecond)
	var batch []*riverdriver.JobSetStateIfRunningParams
	for i, r := range inserted {
		if i%2 == 0 {
			batch = append(batch, riverdriver.JobSetStateCompleted(r.Job.ID, now, nil))
		} else {
			batch = append(batch, riverdriver.JobSetStateErrorRetryable(r.Job.ID, retryAt.Add(time.Duration(i)*time.Second),
				fmt.Appendf(nil, `{"error":"job %d failed"}`, i), nil))
		}
	}
	many := &riverdriver.JobSetStateIfRunningManyParams{Now: &now}
	for _, p := range batch {
		many.ID = append(many.ID, p.ID)
		many.Attempt = append(many.Attempt, p.Attempt)
		many.ErrData = append(many.ErrData, p.ErrData)
		many.FinalizedAt = append(many.FinalizedAt, p.FinalizedAt)
		many.MetadataDoMerge = append(many.MetadataDoMerge, p.MetadataDoMerge)
		many.MetadataUpdates = append(many.MetadataUpdates, p.MetadataUpdates)
		many.ScheduledAt = append(many.ScheduledAt, p.ScheduledAt)
		many.State = append(many.State, p.State)
	}
	rows, err := driver(db).GetExecutor().JobSetStateIfRunningMany(ctx, many)
	require.NoError(t, err)
	require.Len(t, rows, n)

	for i, r := range inserted {
		j, err := c.JobGet(ctx, r.Job.ID)
		require.NoError(t, err)
		if i%2 == 0 {
			require.Equal(t, rivertype.JobStateCompleted, j.State, "job %d", i)
			require.NotNil(t, j.FinalizedAt, "job %d", i)
			continue
		}
		require.Equal(t, rivertype.JobStateRetryable, j.State, "job %d", i)
		require.WithinDuration(t, retryAt.Add(time.Duration(i)*time.Second), j.ScheduledAt, time.Millisecond, "job %d", i)
		require.Len(t, j.Errors, 1, "job %d", i)
		require.Equal(t, fmt.Sprintf("job %d failed", i), j.Errors[0].Error)
	}
}
