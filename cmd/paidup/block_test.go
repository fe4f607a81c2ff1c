package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// A person blocks a customer and lifts the block from the command line:
// the block ends nothing and suspends every grant, which comes back with
// the lift; the customer, told of neither, is emailed about neither. The
// commands refuse what they cannot put on the record.
func TestBlockCommands(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		l := startLife(t, engine, "bo@example.com")
		l.buy("supporter-lifetime", "4242 4242 4242 4242")
		l.wantAccess("supporter")
		l.wantMail("You're in: Supporter, lifetime")
		block := func(args ...string) (string, error) {
			var stdout, stderr strings.Builder
			err := run(t.Context(), append([]string{"block", args[0], "--config", l.cfgPath, "--database-url", l.dbURL}, args[1:]...),
				func(string) string { return "" }, &stdout, &stderr)
			return stdout.String() + stderr.String(), err
		}

		out, err := block("add", "--customer", l.email, "--actor", "sam", "--reason", "abusive messages to other members")
		require.NoError(t, err, out)
		require.Contains(t, out, "Every grant is suspended until the block is lifted.")
		require.Contains(t, out, "block bl_")
		require.Contains(t, out, "(staff, ")
		require.Contains(t, out, "Supporter (purchase, stripe:pi_")
		require.Contains(t, out, "suspended by the block, for good")
		require.Contains(t, out, "is blocked: no access.")
		l.wantAccess("blocked")

		out, err = block("lift", "--customer", l.email, "--actor", "sam", "--reason", "apologised")
		require.NoError(t, err, out)
		require.Contains(t, out, "Lifted staff block")
		require.Contains(t, out, "has access: Supporter.")
		require.Contains(t, out, "lifted ")
		l.wantAccess("supporter")
		out, err = block("lift", "--customer", l.email, "--actor", "sam", "--reason", "again")
		require.NoError(t, err, out)
		require.Contains(t, out, "has no active block.")
		l.settle()
		require.Len(t, l.subjects(), 1, "no email about a person's block: %q", l.subjects())

		for _, bad := range [][]string{
			{"add", "--customer", l.email, "--actor", "sam"},
			{"lift", "--customer", l.email, "--reason", "x", "--actor", " "},
			{"show"},
			{"remove", "--customer", l.email},
		} {
			_, err := block(bad...)
			require.Equal(t, 2, exitCode(err), "%v: %v", bad, err)
		}
		_, err = block("show", "--customer", "nobody@example.com")
		require.ErrorContains(t, err, "no customer with email nobody@example.com")
	})
}
