package lifecycle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// run runs script lines in a world.
func (w *world) run(t *testing.T, script string) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSpace(script), "\n") {
		w.step(t, i+1, strings.Fields(line))
	}
}

// emailData is the data of the lifecycle emails of a kind, oldest first.
func (w *world) emailData(t *testing.T, kind string) []map[string]string {
	t.Helper()
	c, err := w.st.CustomerByEmail(w.ctx, w.email)
	require.NoError(t, err)
	emails, err := w.st.Emails(w.ctx, c.ID)
	require.NoError(t, err)
	var out []map[string]string
	for _, e := range emails {
		if e.Kind == kind {
			out = append(out, e.Data)
		}
	}
	return out
}

// A renewal that fails gets a reference of paidup's, the same in every
// email about it, in its account-page record, and when it is paid at last;
// the processor's invoice id is in none of them. A paid renewal gets its
// own.
func TestRenewalReferences(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		w := newWorld(t, engine, "")
		w.run(t, `
			subscribe pro-monthly
			renew ok
			renew fail
			advance 3d
			advance 5d
			retry ok`)
		var refs []string
		for _, kind := range []string{notify.KindPaymentFailed, notify.KindPaymentReminder, notify.KindGraceEnded, notify.KindWelcomeBack} {
			data := w.emailData(t, kind)
			require.Len(t, data, 1, kind)
			require.True(t, paidup.IsReference(data[0]["reference"]), "%s: reference %q", kind, data[0]["reference"])
			refs = append(refs, data[0]["reference"])
		}
		require.Equal(t, []string{refs[0], refs[0], refs[0], refs[0]}, refs, "one reference for one invoice")
		c, err := w.st.CustomerByEmail(w.ctx, w.email)
		require.NoError(t, err)
		invoices, err := w.st.Invoices(w.ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, invoices, 2, "the paid renewal and the one that failed, then was paid")
		for _, in := range invoices {
			require.Equal(t, paidup.InvoicePaid, in.Status)
			require.NotEmpty(t, in.PaymentID)
		}
		found, ok, err := w.st.InvoiceByReference(w.ctx, refs[0])
		require.NoError(t, err)
		require.True(t, ok, "support finds the invoice by the reference the customer quotes")
		require.Equal(t, c.ID, found.CustomerID)
		require.NotEqual(t, invoices[0].Reference, invoices[1].Reference)
	})
}

// The cancellation email says until when the subscription's tier lasts,
// what the customer keeps after, and carries the subscription's
// reference; a renewal receipt, when configured, goes once per renewal.
func TestCancellationAndReceiptData(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		w := newWorld(t, engine, "")
		w.policy.Lifecycle.RenewalReceipts = true
		w.run(t, `
			buy supporter-lifetime
			subscribe pro-monthly
			renew ok
			resync
			cancel end`)
		sub := w.billing.sub(w.subs["sub"])
		data := w.emailData(t, notify.KindCancellation)
		require.Len(t, data, 1)
		require.Equal(t, sub.CurrentPeriodEnd.UTC().Format(time.RFC3339), data[0]["until"], "access until the paid period's end")
		require.Equal(t, "supporter", data[0]["keeps"])
		require.Empty(t, data[0]["keeps_until"], "the lifetime tier, for good")
		require.True(t, paidup.IsReference(sub.Reference))
		require.Equal(t, sub.Reference, data[0]["reference"], "the subscription's checkout reference")
		receipts := w.emailData(t, notify.KindRenewalReceipt)
		require.Len(t, receipts, 1, "one renewal, one receipt, however often synced")
		require.True(t, paidup.IsReference(receipts[0]["reference"]))
		require.Equal(t, "true", receipts[0]["renews"])

		// Cancelled while a renewal is unpaid: access lasts the grace,
		// and the email says so.
		w = newWorld(t, engine, "")
		w.run(t, `
			subscribe pro-monthly
			renew fail
			advance 1d
			cancel end`)
		data = w.emailData(t, notify.KindCancellation)
		require.Len(t, data, 1)
		failed := w.emailData(t, notify.KindPaymentFailed)
		require.Len(t, failed, 1)
		require.Equal(t, failed[0]["grace_ends"], data[0]["until"], "until the grace's end, not the unpaid period's")
		require.Equal(t, data[0]["until"], data[0]["grace_ends"])
		require.Empty(t, data[0]["keeps"])
	})
}
