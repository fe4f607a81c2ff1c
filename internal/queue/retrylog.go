package queue

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// quietRetries is how many attempts of a job that fails expectedly are
// logged at debug level only; from then on each is a warning, since a
// processor that has not answered for minutes is for a person to see.
const quietRetries = 4

// retryLog reports a job that failed and will be retried: at debug level
// when the failure is expected and the job young, else as a warning. A
// job out of attempts River reports itself (see quiet).
type retryLog struct {
	log      *slog.Logger
	expected func(error) bool
}

func (l retryLog) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if job.Attempt >= job.MaxAttempts {
		return nil
	}
	level := slog.LevelWarn
	if l.expected != nil && l.expected(err) && job.Attempt <= quietRetries {
		level = slog.LevelDebug
	}
	l.log.Log(ctx, level, "job failed; it will be retried", "job_kind", job.Kind, "job_id", job.ID,
		"attempt", job.Attempt, "err", err)
	return nil
}

// HandlePanic leaves a panic to River's own line (see quiet).
func (l retryLog) HandlePanic(context.Context, *rivertype.JobRow, any, string) *river.ErrorHandlerResult {
	return nil
}
