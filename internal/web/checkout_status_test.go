package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
)

// A customer sent to pay although paidup could not record the processor's
// checkout (the database failed between creating it and recording it, as
// when the PostgreSQL server restarts) comes back from paying to "We're
// confirming your payment", never to "This checkout has closed".
func TestReturnPageWhenTheCheckoutWasNotRecorded(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	_, err := b.db.Write.Exec(`CREATE TRIGGER lose_checkout BEFORE UPDATE OF processor_checkout_id ON checkout_attempts
		BEGIN SELECT RAISE(ABORT, 'the database went away'); END`)
	require.NoError(t, err)
	ref, payPage := b.buy(t, "ada@example.com")
	require.True(t, strings.HasPrefix(payPage, b.sandboxURL+"/c/pay/"), "the customer is sent on to pay: %s", payPage)
	var recorded string
	require.NoError(t, b.db.Read.QueryRow(`SELECT coalesce(processor_checkout_id, '') FROM checkout_attempts WHERE reference = $1`, ref).Scan(&recorded))
	require.Empty(t, recorded, "the checkout was not recorded")
	b.pay(t, payPage)

	r := b.do(t, "GET", b.returnPath(t, payPage), nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "<h1>We're confirming your payment</h1>")
	require.Contains(t, r.body, `http-equiv="refresh"`, "the page comes back by itself")
	require.NotContains(t, r.body, "closed")
}
