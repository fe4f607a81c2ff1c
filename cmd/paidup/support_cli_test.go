package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// cli runs a paidup command against l's database and sandbox.
func (l *life) cli(args ...string) (string, error) {
	var stdout, stderr strings.Builder
	full := append([]string{args[0], args[1], "--config", l.cfgPath, "--database-url", l.dbURL}, args[2:]...)
	if args[0] == "audit" {
		full = append([]string{"audit", "--config", l.cfgPath, "--database-url", l.dbURL}, args[1:]...)
	}
	if args[0] == "customer" && (args[1] == "refund" || args[1] == "recover") {
		full = append(full, "--sandbox-listen", strings.TrimPrefix(l.in.sandbox, "http://"))
	}
	err := run(context.Background(), full, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// processorRefunds are the sandbox's refunds of a payment.
func (l *life) processorRefunds(paymentID string) []*stripego.Refund {
	var out []*stripego.Refund
	for re, err := range l.stripe.V1Refunds.List(l.t.Context(), &stripego.RefundListParams{PaymentIntent: stripego.String(paymentID)}) {
		require.NoError(l.t, err)
		out = append(out, re)
	}
	return out
}

// A person looks a customer up and takes each support action from the
// command line, against a running paidup and its sandbox: each says what
// it did, run twice it does nothing more and says so, and each is in the
// audit log. A refund prints its preview and runs only with --yes; an
// action without what it needs exits 2; hostile text is refused.
func TestCustomerCommands(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		l := startLife(t, engine, "cy@example.com")
		l.buy("pro-annual", "4242 4242 4242 4242")
		l.wantAccess("pro")
		l.wantMail("You're in: Pro")

		out, err := l.cli("customer", "show", "--customer", l.email)
		require.NoError(t, err, out)
		require.Contains(t, out, "has access: Pro.")
		payment := regexp.MustCompile(`payment (pi_\w+): \$249\.00 for pro-annual \(PU-`).FindStringSubmatch(out)
		require.NotNil(t, payment, out)
		require.Regexp(t, `email em_\w+: confirmation to cy@example.com`, out)

		// The refund's preview changes nothing.
		out, err = l.cli("customer", "refund", "--customer", l.email, "--payment", payment[1], "--amount", "50", "--actor", "sam", "--reason", "late delivery")
		require.NoError(t, err, out)
		require.Contains(t, out, "Refund $50.00 of payment "+payment[1])
		require.Contains(t, out, "$199.00 of it stays paid.")
		require.Contains(t, out, "Nothing is done yet: run again with --yes to refund.")
		require.Empty(t, l.processorRefunds(payment[1]))

		refund := []string{"customer", "refund", "--customer", l.email, "--payment", payment[1], "--amount", "50", "--actor", "sam", "--reason", "late delivery", "--yes"}
		out, err = l.cli(refund...)
		require.NoError(t, err, out)
		require.Regexp(t, `Refund re_\w+ of \$50\.00 of payment `+payment[1], out)
		require.Contains(t, out, "The processor confirmed the refund")
		out, err = l.cli(refund...)
		require.NoError(t, err, out)
		require.Contains(t, out, "Already done (request rq_")
		require.Len(t, l.processorRefunds(payment[1]), 1, "run twice, refunded once")
		l.wantAccess("pro")
		l.wantMail("Refund issued: $50.00")

		for _, bad := range [][]string{
			{"customer", "refund", "--customer", l.email, "--payment", payment[1], "--actor", "sam", "--yes"},
			{"customer", "grant", "--customer", l.email, "--tier", "supporter", "--until", "2030-01-01", "--actor", "sam"},
			{"customer", "grant", "--customer", l.email, "--tier", "supporter", "--until", "next week", "--actor", "sam", "--reason", "x"},
			{"customer", "end-grant", "--customer", l.email, "--grant", "gr_x", "--actor", "sam"},
			{"customer", "note", "--customer", l.email, "--actor", "sam"},
			{"customer", "note", "--text", "hi"},
			{"customer", "refund", "--customer", l.email, "--payment", payment[1], "--amount", "1.234", "--reason", "x", "--actor", "sam"},
			{"customer", "forget", "--customer", l.email},
		} {
			_, err := l.cli(bad...)
			require.Equal(t, 2, exitCode(err), "%v: %v", bad, err)
		}
		out, err = l.cli("customer", "note", "--customer", l.email, "--actor", "sam", "--text", "rang her\x1b[31m")
		require.Error(t, err, out)
		require.Equal(t, 1, exitCode(err))

		grant := []string{"customer", "grant", "--customer", l.email, "--tier", "supporter", "--until", "2030-01-31", "--actor", "sam", "--reason", "the outage"}
		out, err = l.cli(grant...)
		require.NoError(t, err, out)
		require.Contains(t, out, "Granted Supporter until 1 February 2030 (grant gr_")
		out, err = l.cli(grant...)
		require.NoError(t, err, out)
		require.Contains(t, out, "Already done")
		l.wantGrants("manual", 1)

		out, err = l.cli("customer", "note", "--customer", l.email, "--actor", "sam", "--text", "asked about the refund by phone")
		require.NoError(t, err, out)
		require.Contains(t, out, "Noted.")

		out, err = l.cli("customer", "resend", "--customer", l.email, "--actor", "sam")
		require.NoError(t, err, out)
		require.Contains(t, out, "Queued a copy of confirmation email em_")
		out, err = l.cli("customer", "resend", "--customer", l.email, "--actor", "sam")
		require.NoError(t, err, out)
		require.Contains(t, out, "Already done")
		l.settle()
		require.Equal(t, 2, l.mailCount("You're in: Pro"), "the confirmation, and one copy")

		out, err = l.cli("customer", "recover", "--customer", l.email, "--actor", "sam")
		require.NoError(t, err, out)
		require.Contains(t, out, "Nothing to do: the processor agrees with paidup's records.")

		out, err = l.cli("audit", "--customer", l.email)
		require.NoError(t, err, out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 5, out)
		for i, action := range []string{"recover", "resend", "note", "grant", "refund"} {
			require.Equal(t, action, strings.Split(lines[i], "\t")[3], lines[i])
		}
		require.Contains(t, lines[4], "late delivery")

		out, err = l.cli("customer", "show", "--customer", l.email)
		require.NoError(t, err, out)
		require.Contains(t, out, "$50.00 refunded")
		require.Contains(t, out, "audit ")

		// paidup's invariants hold after them all.
		var stdout, stderr strings.Builder
		require.NoError(t, run(context.Background(), []string{"check", "--config", l.cfgPath, "--database-url", l.dbURL},
			func(string) string { return "" }, &stdout, &stderr), stdout.String()+stderr.String())
	})
}
