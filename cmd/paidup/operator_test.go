package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// setupLine reads one line of what paidup operator add or reset printed.
func setupLine(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `:\s+(\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "no %s in:\n%s", label, out)
	return m[1]
}

// paidup operator adds an operator (printing their password, TOTP secret
// and recovery codes once), lists, resets and removes them, on every
// engine; what it prints signs in.
func TestOperatorCommand(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		dbURL := sqldbtest.URL(t, engine)
		noEnv := func(string) string { return "" }
		cmd := func(args ...string) (string, error) {
			var stdout, stderr strings.Builder
			err := run(ctx, append(args, "--database-url", dbURL), noEnv, &stdout, &stderr)
			return stdout.String() + stderr.String(), err
		}
		_, err := cmd("migrate")
		require.NoError(t, err)

		out, err := cmd("operator", "list")
		require.NoError(t, err)
		require.Contains(t, out, "No operators.")

		out, err = cmd("operator", "add", "Ada@Example.com")
		require.NoError(t, err, out)
		require.Contains(t, out, "Added operator ada@example.com (op_")
		password, secret := setupLine(t, out, "Password"), setupLine(t, out, "TOTP secret")
		require.True(t, strings.HasPrefix(setupLine(t, out, "TOTP URI"), "otpauth://totp/"))
		codes := regexp.MustCompile(`(?m)^  ([2-9a-z]{5}-[2-9a-z]{5})$`).FindAllStringSubmatch(out, -1)
		require.Len(t, codes, 10)
		require.Contains(t, out, "/console/sign-in")

		_, err = cmd("operator", "add", "ada@example.com")
		require.ErrorContains(t, err, "already an operator")
		require.Equal(t, 1, exitCode(err))

		out, err = cmd("operator", "list")
		require.NoError(t, err)
		require.Regexp(t, `^ada@example.com\top_\S+\tadded \S+\t10 recovery codes left\n$`, out)

		// What was printed signs in.
		db, st, err := openStore(ctx, dbURL, time.Now)
		require.NoError(t, err)
		defer db.Close()
		svc := operators(&config.Config{Console: config.Console{SessionIdle: config.Duration(time.Hour), SessionLifetime: config.Duration(time.Hour)}})
		svc.Store = st
		code, err := totp.GenerateCode(secret, time.Now())
		require.NoError(t, err)
		pending, err := svc.CheckPassword(ctx, "ada@example.com", password)
		require.NoError(t, err)
		session, _, err := svc.SecondFactor(ctx, pending, code)
		require.NoError(t, err)

		out, err = cmd("operator", "reset", "ada@example.com")
		require.NoError(t, err, out)
		require.Contains(t, out, "Reset operator ada@example.com")
		require.NotEqual(t, password, setupLine(t, out, "Password"))
		require.NotEqual(t, secret, setupLine(t, out, "TOTP secret"))
		_, err = svc.Session(ctx, session)
		require.Error(t, err, "a reset ends the operator's sessions")
		_, err = svc.CheckPassword(ctx, "ada@example.com", password)
		require.Error(t, err, "the old password no longer works")

		out, err = cmd("operator", "remove", "ada@example.com")
		require.NoError(t, err, out)
		require.Contains(t, out, "Removed operator ada@example.com")
		_, err = cmd("operator", "remove", "ada@example.com")
		require.ErrorContains(t, err, "no operator")
		_, err = cmd("operator", "reset", "ada@example.com")
		require.ErrorContains(t, err, "no operator")

		for _, args := range [][]string{{"operator"}, {"operator", "grant"}, {"operator", "add"}, {"operator", "add", "a@example.com", "b@example.com"},
			{"operator", "list", "extra"}} {
			_, err := cmd(args...)
			require.Error(t, err, args)
			require.Equal(t, 2, exitCode(err), args)
		}
		_, err = cmd("operator", "add", "not an address")
		require.Error(t, err)
		require.Equal(t, 1, exitCode(err))
	})
}
