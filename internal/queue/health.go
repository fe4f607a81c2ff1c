package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/paidup/paidup/internal/sqldb"
)

// Health is a snapshot of the job queue for /healthz and metrics.
type Health struct {
	// Counts is the number of jobs in each River state (available,
	// scheduled, running, retryable, completed, discarded, cancelled).
	Counts map[string]int64
	// OldestAvailable is how long the oldest job ready to run has waited;
	// it grows when no worker is taking jobs.
	OldestAvailable time.Duration
}

// Stalled reports whether ready jobs have waited longer than limit.
func (h Health) Stalled(limit time.Duration) bool { return h.OldestAvailable > limit }

// CheckHealth reads the queue's state. now is the wall clock: River
// schedules jobs in real time.
func CheckHealth(ctx context.Context, db *sqldb.DB, c *Client, now time.Time) (Health, error) {
	h := Health{Counts: map[string]int64{}}
	rows, err := db.Read.QueryContext(ctx, `SELECT state, count(*) FROM river_job GROUP BY state`)
	if err != nil {
		return h, fmt.Errorf("counting jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return h, fmt.Errorf("counting jobs: %w", err)
		}
		h.Counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("counting jobs: %w", err)
	}
	if h.Counts[string(rivertype.JobStateAvailable)] == 0 {
		return h, nil
	}
	res, err := c.JobList(ctx, river.NewJobListParams().
		States(rivertype.JobStateAvailable).
		OrderBy(river.JobListOrderByScheduledAt, river.SortOrderAsc).
		First(1))
	if err != nil {
		return h, fmt.Errorf("finding oldest job: %w", err)
	}
	if len(res.Jobs) > 0 {
		h.OldestAvailable = max(0, now.Sub(res.Jobs[0].ScheduledAt))
	}
	return h, nil
}
