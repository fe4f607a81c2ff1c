package main

import (
	"context"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// paidup search prints the customers a query finds, with what matched,
// and reads the database without changing it.
func TestSearchCommand(t *testing.T) {
	ctx := context.Background()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "paidup.db")
	noEnv := func(string) string { return "" }
	cmd := func(args ...string) (string, error) {
		var stdout, stderr strings.Builder
		err := run(ctx, append([]string{"search", "--database-url", dbURL}, args...), noEnv, &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	_, err := cmd("ada")
	require.ErrorContains(t, err, "no paidup database", "search creates no database")

	var stdout strings.Builder
	require.NoError(t, run(ctx, []string{"migrate", "--database-url", dbURL}, noEnv, &stdout, &stdout))
	db, st, err := openStore(ctx, dbURL, time.Now)
	require.NoError(t, err)
	defer db.Close()
	amount := paidup.Money{Amount: 24900, Currency: "usd"}
	for _, a := range []paidup.CheckoutAttempt{
		{Reference: "PU-7K3M-Q9XD", PlanID: "pro-annual", Email: "ada.lovelace@example.com", Amount: amount, Processor: "stripe"},
		{Reference: "PU-8B0B-0002", PlanID: "pro-annual", Email: "bob@example.net", Amount: amount, Processor: "stripe"},
	} {
		_, _, err = st.CreateCheckoutAttempt(ctx, a)
		require.NoError(t, err)
	}
	var ada string
	require.NoError(t, st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if ada, _, err = tx.MatchCustomer(ctx, "stripe", "cus_ada1", "ada.lovelace@example.com"); err != nil {
			return err
		}
		if err := tx.RecordPayment(ctx, paidup.Payment{Processor: "stripe", ID: "pi_ada1", CustomerID: ada, CheckoutReference: "PU-7K3M-Q9XD",
			PlanID: "pro-annual", Amount: amount, PaidAt: time.Now()}); err != nil {
			return err
		}
		return tx.ResolveAttempt(ctx, "PU-7K3M-Q9XD", paidup.AttemptFulfilled, ada, "pi_ada1")
	}))

	out, err := cmd("pi_ada1")
	require.NoError(t, err, out)
	require.Equal(t, ada+"\tada.lovelace@example.com\n\tpayment pi_ada1 · PU-7K3M-Q9XD\n", out)
	out, err = cmd("pu", "7k3m", "q9xd")
	require.NoError(t, err, out)
	require.Equal(t, ada+"\tada.lovelace@example.com\n\tcheckout PU-7K3M-Q9XD · pi_ada1\n", out, "the words of the query are one query")
	out, err = cmd("EXAMPLE")
	require.NoError(t, err, out)
	require.Equal(t, "checkout PU-8B0B-0002\tbob@example.net\t(no customer yet: nothing was fulfilled)\n\temail bob@example.net\n"+
		ada+"\tada.lovelace@example.com\n\temail ada.lovelace@example.com\n", out)
	out, err = cmd("--limit", "1", "example")
	require.NoError(t, err, out)
	require.Contains(t, out, "bob@example.net")
	require.NotContains(t, out, "ada.lovelace")
	require.Contains(t, out, "More match than are shown")
	out, err = cmd(`" OR *`)
	require.NoError(t, err, out)
	require.Equal(t, "No customer matches \"\\\" OR *\".\n", out)

	_, err = cmd()
	require.ErrorContains(t, err, "usage: paidup search")
	require.Equal(t, 2, exitCode(err))
	_, err = cmd("--limit", "0", "ada")
	require.ErrorContains(t, err, "--limit must be between 1 and 100")
	out, err = cmd("-h")
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, f := range []string{"-config", "-database-url", "-limit"} {
		require.Contains(t, out, "  "+f+" ")
	}
}
