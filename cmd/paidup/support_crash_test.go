package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// supportPoint reports whether a failpoint is on a support action's path,
// which TestSupportRefundCrash covers.
func supportPoint(name string) bool { return strings.HasPrefix(name, "support.") }

// A person's refund, killed between the processor refunding and paidup
// recording it (support.after_refund), and run again as the person would:
// the second run finds the refund the first made, records it, and the
// processor holds exactly one refund; a third run says it was done.
func TestSupportRefundCrash(t *testing.T) {
	bin := buildPaidup(t)
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		l := startLife(t, engine, "dee@example.com")
		l.buy("pro-annual", "4242 4242 4242 4242")
		l.wantAccess("pro")
		out, err := l.cli("customer", "show", "--customer", l.email)
		require.NoError(t, err, out)
		payment := strings.Fields(out[strings.Index(out, "payment pi_"):])[1]
		payment = strings.TrimSuffix(payment, ":")

		refund := func(failpoints string) (string, bool) {
			cmd := exec.Command(bin, "customer", "refund", "--config", l.cfgPath, "--database-url", l.dbURL,
				"--sandbox-listen", strings.TrimPrefix(l.in.sandbox, "http://"), "--customer", l.email, "--payment", payment,
				"--actor", "sam", "--reason", "never used it", "--yes")
			cmd.Env = childEnv(failpoints)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) && !exit.Exited() {
				return string(out), true
			}
			require.NoError(t, err, string(out))
			return string(out), false
		}
		_, killed := refund("support.after_refund")
		require.True(t, killed, "the failpoint kills paidup customer refund")
		require.Len(t, l.processorRefunds(payment), 1, "the processor refunded before the crash")
		require.Zero(t, countRows(t, l.dbURL, `SELECT count(*) FROM audit_log`), "paidup recorded nothing of the request")

		out, killed = refund("")
		require.False(t, killed)
		require.Contains(t, out, "Refund re_")
		require.Len(t, l.processorRefunds(payment), 1, "run again, the refund is found, not made twice")
		out, _ = refund("")
		require.Contains(t, out, "Already done")
		require.Len(t, l.processorRefunds(payment), 1)
		l.wantAccess("none")
		require.Equal(t, 1, countRows(t, l.dbURL, `SELECT count(*) FROM audit_log WHERE action = 'refund'`))
		l.settle()
		require.Equal(t, 1, l.mailCount("Refund issued"), "the customer is told once")
	})
}
