package limit_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/limit"
)

// A person's refund of part of a payment, and the look-up of a refund by
// its key, go through the budget to the processor behind it.
func TestPartRefundsGoThrough(t *testing.T) {
	p, _, log := budgetSetup(t, limit.Budget{})
	ctx := context.Background()
	_, err := p.RefundAmount(ctx, "pi_nope", 100, "requested_by_customer", "support-rq_1")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "%v", err)
	_, found, err := p.KeyedRefund(ctx, "pi_nope", "support-rq_1")
	require.NoError(t, err)
	require.False(t, found)
	require.Equal(t, 1, log.count(http.MethodPost))
	require.Equal(t, 1, log.count(http.MethodGet))
}
