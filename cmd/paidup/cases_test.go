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
	require.Contains(t, out, "\topen\t$1.00\tunconfirmed\t", "its state and the money at stake")

	// Triage: taken (twice is once), snoozed out of the list, waiting.
	out, err = cmd("case", "take", "--case", id, "--actor", "sam")
	require.NoError(t, err, out)
	require.Contains(t, out, "is now open, taken by sam")
	out, err = cmd("case", "take", "--case", id, "--actor", "sam")
	require.NoError(t, err, out)
	require.Contains(t, out, "already open, taken by sam; nothing changed")
	for _, bad := range [][]string{
		{"case", "snooze", "--case", id, "--actor", "sam"},
		{"case", "snooze", "--case", id, "--actor", "sam", "--for", "1h", "--until", "2026-12-05T09:00:00Z"},
		{"case", "snooze", "--case", id, "--actor", "sam", "--until", "tomorrow"},
		{"case", "take", "--case", id, "--actor", " "},
		{"case", "shelve", "--case", id},
	} {
		_, err := cmd(bad...)
		require.Equal(t, 2, exitCode(err), "%v: %v", bad, err)
	}
	out, err = cmd("case", "snooze", "--case", id, "--actor", "sam", "--for", "2h")
	require.NoError(t, err, out)
	require.Contains(t, out, "is now snoozed until ")
	out, err = cmd("case", "list")
	require.NoError(t, err, out)
	require.Contains(t, out, "No open support cases.", "snoozed: out of the list")
	out, err = cmd("case", "list", "--all")
	require.NoError(t, err, out)
	require.Contains(t, out, id+"\t")
	require.Contains(t, out, "snoozed until ")
	out, err = cmd("case", "wait", "--case", id, "--actor", "kim")
	require.NoError(t, err, out)
	require.Contains(t, out, "taken by sam", "waiting keeps who works on it")
	_, err = cmd("case", "take", "--case", "sc_nope", "--actor", "sam")
	require.ErrorContains(t, err, "No support case sc_nope")

	// A reply from a template: previewed, then queued once, and the case
	// waits on the customer.
	out, err = cmd("case", "reply", "--case", id)
	require.NoError(t, err, out)
	require.Contains(t, out, "charged_no_access_repaired\tbuilt in")
	_, err = cmd("case", "reply", "--case", id, "--template", "nope", "--actor", "sam")
	require.ErrorContains(t, err, `no reply template named "nope"`)
	out, err = cmd("case", "reply", "--case", id, "--template", "charged_no_access_refunded", "--actor", "sam", "--preview")
	require.NoError(t, err, out)
	require.Contains(t, out, "Subject: We've refunded your payment (PU-7K3M-Q9XD)")
	require.Contains(t, out, "your payment of $1.00 was for")
	out, err = cmd("case", "reply", "--case", id, "--template", "charged_no_access_repaired", "--actor", "sam")
	require.NoError(t, err, out)
	require.Contains(t, out, `Queued the reply "Your access is ready (PU-7K3M-Q9XD)" to ada@example.com; the case now waits on them.`)
	out, err = cmd("case", "reply", "--case", id, "--template", "charged_no_access_repaired", "--actor", "sam")
	require.NoError(t, err, out)
	require.Contains(t, out, "sent to the customer of "+id+" before; nothing sent again")
	var replies int
	require.NoError(t, db.Read.QueryRowContext(ctx, `SELECT count(*) FROM emails WHERE kind = 'case_reply' AND to_address = 'ada@example.com'`).Scan(&replies))
	require.Equal(t, 1, replies)

	_, err = cmd("case", "resolve", "--case", id)
	require.ErrorContains(t, err, "--case and --actor are required")
	_, err = cmd("case", "resolve", "--case", id, "--actor", "sam")
	require.ErrorContains(t, err, "waiting for an answer")
	out, err = cmd("case", "resolve", "--case", id, "--actor", "sam", "--answer", "Your payment went through; you have Pro now.")
	require.NoError(t, err, out)
	require.Contains(t, out, "Resolved "+id)
	_, err = cmd("case", "resolve", "--case", id, "--actor", "sam", "--answer", "again")
	require.ErrorContains(t, err, "already resolved")
	// Both are in the audit log, with who took them.
	out, err = cmd("audit")
	require.NoError(t, err, out)
	require.Regexp(t, `(?m)sam\s+reply\b.*`+id, out)
	require.Regexp(t, `(?m)sam\s+resolve\b.*`+id, out)

	var kinds []string
	rows, err := db.Read.QueryContext(ctx, `SELECT kind FROM emails WHERE to_address = 'ada@example.com' ORDER BY queued_at, kind`)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, []string{notify.KindCaseOpened, notify.KindCaseReply, notify.KindCaseAnswered}, kinds)
	out, err = cmd("case", "list")
	require.NoError(t, err)
	require.Contains(t, out, "No open support cases.")
}
