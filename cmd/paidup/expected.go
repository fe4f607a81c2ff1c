package main

import (
	"context"
	"errors"
	"net"

	"github.com/paidup/paidup"
)

// expectedFailure reports whether a job's failure is part of normal
// operation, to be retried without a warning at first: the processor or
// the mail server not answering for a moment.
func expectedFailure(err error) bool {
	var netErr net.Error
	return paidup.ErrorCode(err) == paidup.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr)
}
