package main

import (
	"context"
	"errors"
	"net"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
)

// expectedFailure reports whether a job's failure is part of normal
// operation, to be retried without a warning at first: the processor or
// the mail server not answering for a moment, or a dispute's event that
// came before its payment was recorded.
// Of several failures joined, each must be expected.
func expectedFailure(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !expectedFailure(e) {
				return false
			}
		}
		return len(j.Unwrap()) > 0
	}
	var netErr net.Error
	return paidup.ErrorCode(err) == paidup.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) ||
		errors.Is(err, lifecycle.ErrUnknownPayer)
}
