package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// The inbox shows the open cases a person should take, in the order to
// take them: money at stake first, longest waiting first; snoozed ones
// only once their time comes; those waiting on the customer last. Each
// case knows the money it is about, from its payment or its reference.
func TestCaseInbox(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ada := b.newCustomer(t, "ada@example.com")
		_, _, err := b.store.CreateCheckoutAttempt(ctx, attempt("PU-AAAA-0001"))
		require.NoError(t, err)
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			return tx.RecordPayment(ctx, paidup.Payment{Processor: "stripe", ID: "pi_paid", CustomerID: ada, PlanID: "pro-monthly",
				Amount: paidup.Money{Amount: 1900, Currency: "eur"}, Status: paidup.PaymentSucceeded, PaidAt: b.now})
		}))
		open := func(key, kind, ref, payment string) paidup.SupportCase {
			t.Helper()
			var c paidup.SupportCase
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				var err error
				c, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: key, CustomerID: ada, Reference: ref, PaymentID: payment, Kind: kind, Summary: key})
				return err
			}))
			b.now = b.now.Add(time.Minute)
			return c
		}
		mail1 := open("mail1", paidup.CaseEmailFailed, "", "")
		unconfirmed := open("unconfirmed", paidup.CaseUnconfirmed, "PU-AAAA-0001", "")
		mail2 := open("mail2", paidup.CaseEmailFailed, "", "")
		mismatch := open("mismatch", paidup.CaseAmountMismatch, "", "pi_paid")
		require.Equal(t, paidup.Money{Amount: 24900, Currency: "usd"}, unconfirmed.Stake, "the checkout's amount")
		require.Equal(t, paidup.Money{Amount: 1900, Currency: "eur"}, mismatch.Stake, "the payment's amount")
		require.Zero(t, mail1.Stake)

		ids := func() []string {
			t.Helper()
			cases, err := b.store.Inbox(ctx, b.now, 50)
			require.NoError(t, err)
			var out []string
			for _, c := range cases {
				out = append(out, c.ID)
			}
			return out
		}
		require.Equal(t, []string{unconfirmed.ID, mismatch.ID, mail1.ID, mail2.ID}, ids(), "money first, then oldest first")

		groups, err := b.store.CaseGroups(ctx)
		require.NoError(t, err)
		require.Len(t, groups, 1, "one kind with more than one case")
		require.Equal(t, paidup.CaseEmailFailed, groups[0].Kind)
		require.Equal(t, 2, groups[0].Count)
		require.Equal(t, mail1.CreatedAt, groups[0].Oldest)

		triage := func(id, who string, snooze time.Time, waiting bool) (paidup.SupportCase, bool, error) {
			var c paidup.SupportCase
			var changed bool
			err := b.store.InTx(ctx, func(tx *store.Tx) error {
				var err error
				c, changed, err = tx.TriageCase(ctx, id, who, snooze, waiting)
				return err
			})
			return c, changed, err
		}
		// Snoozed for an hour: out of the inbox until then.
		until := b.now.Add(time.Hour)
		c, changed, err := triage(unconfirmed.ID, "sam", until, false)
		require.NoError(t, err)
		require.True(t, changed)
		require.Equal(t, paidup.CaseSnoozed, c.State(b.now))
		require.Equal(t, "sam", c.Assignee)
		_, changed, err = triage(unconfirmed.ID, "sam", until, false)
		require.NoError(t, err)
		require.False(t, changed, "the same triage twice changes nothing")
		require.Equal(t, []string{mismatch.ID, mail1.ID, mail2.ID}, ids())

		// Waiting on the customer: last.
		c, _, err = triage(mismatch.ID, "kim", time.Time{}, true)
		require.NoError(t, err)
		require.Equal(t, paidup.CaseWaiting, c.State(b.now))
		require.Equal(t, b.now.Truncate(time.Microsecond), c.WaitingSince)
		require.Equal(t, []string{mail1.ID, mail2.ID, mismatch.ID}, ids())

		b.now = until
		require.Equal(t, []string{unconfirmed.ID, mail1.ID, mail2.ID, mismatch.ID}, ids(), "back when the snooze ends")
		cases, err := b.store.OpenCases(ctx)
		require.NoError(t, err)
		require.Len(t, cases, 4, "every open case, whatever its state")

		// A resolved case cannot be triaged, and leaves the inbox.
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.ResolveCase(ctx, mail2.ID, "sam", "resent")
			return err
		}))
		_, _, err = triage(mail2.ID, "sam", time.Time{}, false)
		require.Equal(t, paidup.ECONFLICT, paidup.ErrorCode(err))
		_, _, err = triage("sc_nope", "sam", time.Time{}, false)
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
		require.Equal(t, []string{unconfirmed.ID, mail1.ID, mismatch.ID}, ids())
		groups, err = b.store.CaseGroups(ctx)
		require.NoError(t, err)
		require.Empty(t, groups)
	})
}

// The monitoring snapshot reads the oldest unresolved checkout on both
// engines (SQLite returns a computed time as text).
func TestStatsOfUnresolvedCheckouts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		_, _, err := b.store.CreateCheckoutAttempt(ctx, attempt("PU-AAAA-0002"))
		require.NoError(t, err)
		b.now = b.now.Add(90 * time.Second)
		st, err := b.store.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(1), st.UnresolvedCheckouts)
		require.InDelta(t, 90, st.OldestUnresolved.Seconds(), 1)
	})
}
