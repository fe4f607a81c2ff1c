package queue

import (
	"context"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

// completionChunk bounds how many jobs' completions one SQLite transaction
// records.
const completionChunk = 8

// sqliteDriver is River's SQLite driver, but it records finished jobs in
// short transactions. River's completer records every job finished since
// its last run in one transaction, one statement per job; on SQLite's
// single writer that held every other write — a webhook's acknowledgement
// among them — for several milliseconds at a time.
type sqliteDriver struct{ *riversqlite.Driver }

func (d sqliteDriver) GetExecutor() riverdriver.Executor {
	return chunkedCompletions{d.Driver.GetExecutor()}
}

type chunkedCompletions struct{ riverdriver.Executor }

// JobSetStateIfRunningMany sets the jobs' states completionChunk at a time,
// each chunk in its own transaction. The jobs are independent: a chunk
// that fails leaves the earlier ones recorded, and River retries the whole
// batch, which finds those already set.
func (e chunkedCompletions) JobSetStateIfRunningMany(ctx context.Context, p *riverdriver.JobSetStateIfRunningManyParams) ([]*rivertype.JobRow, error) {
	rows := make([]*rivertype.JobRow, 0, len(p.ID))
	for i := 0; i < len(p.ID); i += completionChunk {
		j := min(i+completionChunk, len(p.ID))
		chunk := &riverdriver.JobSetStateIfRunningManyParams{
			ID: p.ID[i:j], Attempt: p.Attempt[i:j], ErrData: p.ErrData[i:j], FinalizedAt: p.FinalizedAt[i:j],
			MetadataDoMerge: p.MetadataDoMerge[i:j], MetadataUpdates: p.MetadataUpdates[i:j],
			Now: p.Now, Schema: p.Schema, ScheduledAt: p.ScheduledAt[i:j], State: p.State[i:j],
		}
		r, err := e.Executor.JobSetStateIfRunningMany(ctx, chunk)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}
