package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// paidup case resolves a support case, as a person's decision with their
// name, and queues the answer to the customer whose purchase waited on it.
func TestCaseCommand(t *testing.T) {
	ctx := context.Background()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "paidup.db")
	noEnv := func(string) string { return "" }
	cmd := func(args ...string) (string, error) {
		var stdout, stderr strings.Builder
		err := run(ctx, append(args, "--database-url", dbURL), noEnv, &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	_, err := cmd("migrate")
	require.NoError(t, err)
	db, st, err := openStore(ctx, dbURL, time.Now)
	require.NoError(t, err)
	defer db.Close()
	_, _, err = st.CreateCheckoutAttempt(ctx, paidup.CheckoutAttempt{Reference: "PU-7K3M-Q9XD", PlanID: "pro-annual", Email: "ada@example.com",
		Amount: paidup.Money{Amount: 100, Currency: "usd"}, Processor: "stripe"})
	require.NoError(t, err)
	require.NoError(t, st.InTx(ctx, func(tx *store.Tx) error {
		return (&notify.Outbox{}).OpenCase(ctx, tx, paidup.SupportCase{DedupeKey: "unconfirmed:PU-7K3M-Q9XD", Reference: "PU-7K3M-Q9XD",
			Kind: paidup.CaseUnconfirmed, Summary: "never confirmed"})
	}))
	cases, err := st.OpenCases(ctx)
	require.NoError(t, err)
	require.Len(t, cases, 1)
	id := cases[0].ID

	out, err := cmd("case", "list")
	require.NoError(t, err, out)
	require.Contains(t, out, id+"\t")
	require.Contains(t, out, "PU-7K3M-Q9XD")

	_, err = cmd("case", "resolve", "--case", id)
	require.ErrorContains(t, err, "--case and --actor are required")
	_, err = cmd("case", "resolve", "--case", id, "--actor", "sam")
	require.ErrorContains(t, err, "waiting for an answer")
	out, err = cmd("case", "resolve", "--case", id, "--actor", "sam", "--answer", "Your payment went through; you have Pro now.")
	require.NoError(t, err, out)
	require.Contains(t, out, "Resolved "+id)
	_, err = cmd("case", "resolve", "--case", id, "--actor", "sam", "--answer", "again")
	require.ErrorContains(t, err, "already resolved")

	var kinds []string
	rows, err := db.Read.QueryContext(ctx, `SELECT kind FROM emails WHERE to_address = 'ada@example.com' ORDER BY queued_at, kind`)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, []string{notify.KindCaseOpened, notify.KindCaseAnswered}, kinds)
	out, err = cmd("case", "list")
	require.NoError(t, err)
	require.Contains(t, out, "No open support cases.")
}
