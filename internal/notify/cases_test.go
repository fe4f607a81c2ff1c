package notify_test

import (
	"context"
	"net/mail"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// sendKind sends every queued email of kind, as the job would.
func (b *testBundle) sendKind(t *testing.T, customerID, kind string) []store.Email {
	t.Helper()
	emails, err := b.store.Emails(context.Background(), customerID)
	require.NoError(t, err)
	var out []store.Email
	for _, e := range emails {
		if e.Kind == kind {
			require.NoError(t, b.sender.Work(context.Background(), job(e.ID, 1, 10)))
			out = append(out, e)
		}
	}
	return out
}

// A case that leaves a purchase waiting on a person tells its customer, once,
// that a person is looking at it, within the configured time; resolving it
// sends them the answer, once. Cases no customer waits on tell nobody but
// on-call.
func TestCaseEmails(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		b.sender.ReplyWithin = "two working days"
		_, _, err := b.store.CreateCheckoutAttempt(ctx, paidup.CheckoutAttempt{Reference: "PU-7K3M-Q9XD", PlanID: proAnnual.ID,
			Email: "ada@example.com", Amount: proAnnual.Amount, Processor: "stripe"})
		require.NoError(t, err)
		var customerID string
		open := func(c paidup.SupportCase) {
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				var err error
				if customerID, _, err = tx.MatchCustomer(ctx, "stripe", "", "ada@example.com"); err != nil {
					return err
				}
				c.CustomerID = customerID
				return b.outbox.OpenCase(ctx, tx, c)
			}))
		}
		c := paidup.SupportCase{DedupeKey: "payment:stripe:pi_1", Reference: "PU-7K3M-Q9XD", PaymentID: "pi_1", Kind: paidup.CaseAmountMismatch,
			Summary: "Paid $1.00 for Pro, one year, which costs $249.00"}
		open(c)
		open(c) // the same case again: nothing more
		open(paidup.SupportCase{DedupeKey: "email:em_1", Reference: "PU-7K3M-Q9XD", Kind: paidup.CaseEmailFailed, Summary: "bounced"})

		sent := b.sendKind(t, customerID, notify.KindCaseOpened)
		require.Len(t, sent, 1, "one email for the one case a customer waits on")
		inbox := b.inbox(t, "ada@example.com")
		require.Len(t, inbox, 1)
		m := inbox[0]
		require.Equal(t, "A person is looking at your purchase (PU-7K3M-Q9XD)", m.subject)
		require.Contains(t, m.text, "We've received your payment for Pro, one year")
		require.Contains(t, m.text, "within two working days")
		require.NotContains(t, m.text, "pi_1", "no processor ids")
		replyTo, err := m.header.AddressList("Reply-To")
		require.NoError(t, err)
		require.Equal(t, []*mail.Address{{Address: "help@paidup.test"}}, replyTo, "replies go to support")

		cases, err := b.store.OpenCases(ctx)
		require.NoError(t, err)
		var caseID string
		for _, sc := range cases {
			if sc.Kind == paidup.CaseAmountMismatch {
				caseID = sc.ID
			}
		}
		require.NotEmpty(t, caseID)

		// Resolving needs an answer for a waiting customer, and someone to
		// resolve it; a refusal changes nothing.
		err = b.store.InTx(ctx, func(tx *store.Tx) error { _, err := b.outbox.ResolveCase(ctx, tx, caseID, "sam", " "); return err })
		require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err))
		err = b.store.InTx(ctx, func(tx *store.Tx) error { _, err := b.outbox.ResolveCase(ctx, tx, caseID, "", "Done."); return err })
		require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err))
		require.Empty(t, b.sendKind(t, customerID, notify.KindCaseAnswered))

		answer := "You paid last year's price; we granted Pro as bought."
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error { _, err := b.outbox.ResolveCase(ctx, tx, caseID, "sam", answer); return err }))
		err = b.store.InTx(ctx, func(tx *store.Tx) error { _, err := b.outbox.ResolveCase(ctx, tx, caseID, "sam", answer); return err })
		require.Equal(t, paidup.ECONFLICT, paidup.ErrorCode(err), "a case is resolved once")
		err = b.store.InTx(ctx, func(tx *store.Tx) error {
			_, err := b.outbox.ResolveCase(ctx, tx, "sc_nope", "sam", answer)
			return err
		})
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))

		require.Len(t, b.sendKind(t, customerID, notify.KindCaseAnswered), 1)
		inbox = b.inbox(t, "ada@example.com")
		require.Len(t, inbox, 2)
		i := slices.IndexFunc(inbox, func(r received) bool { return r.subject == "About your purchase PU-7K3M-Q9XD" })
		require.GreaterOrEqual(t, i, 0)
		require.Contains(t, inbox[i].text, answer)
		require.Contains(t, b.timeline(t, customerID), "Support case resolved by sam: "+answer)
	})
}

// From is configurable by kind; every email's Reply-To is support.
func TestFromByKind(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	b.sender.FromByKind = map[string]string{notify.KindConfirmation: "Test Community <welcome@paidup.test>"}
	require.NoError(t, b.sender.CheckTemplates())
	e := b.confirmation(t, proAnnual, "ada@example.com")
	require.NoError(t, b.sender.Work(context.Background(), job(e.ID, 1, 10)))
	m := b.inbox(t, "ada@example.com")[0]
	from, err := m.header.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, "welcome@paidup.test", from[0].Address)
	replyTo, err := m.header.AddressList("Reply-To")
	require.NoError(t, err)
	require.Equal(t, "help@paidup.test", replyTo[0].Address)

	b.sender.FromByKind = map[string]string{"welcome": "a@paidup.test"}
	require.ErrorContains(t, b.sender.CheckTemplates(), `paidup sends no "welcome" email`)
}
