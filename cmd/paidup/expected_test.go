package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
)

// Which job failures are retried without a warning at first.
func TestExpectedFailure(t *testing.T) {
	down := fmt.Errorf("fetching pi_1: %w", paidup.Errorf(paidup.EUNAVAILABLE, "The payment processor is not answering right now."))
	early := fmt.Errorf("acting on dispute dp_1: %w", lifecycle.ErrUnknownPayer)
	bug := errors.New("a bug")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{down, true},
		{early, true},
		{fmt.Errorf("sending: %w", context.DeadlineExceeded), true},
		{errors.Join(down, early), true},
		{bug, false},
		{errors.Join(down, bug), false},
		{paidup.Errorf(paidup.EINVALID, "refused"), false},
	} {
		require.Equal(t, c.want, expectedFailure(c.err), "%v", c.err)
	}
}
