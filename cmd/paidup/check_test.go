package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

func runCommand(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func dirFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			out[e.Name()] = sha256.Sum256(data)
		} else {
			out[e.Name()] = [32]byte{}
		}
	}
	return out
}

// paidup check on a URL where there is no paidup database says so, exits
// non-zero, and creates nothing: no file, no tables.
func TestCheckWithoutADatabase(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	db, err := sqldb.Open(context.Background(), "sqlite:"+other)
	require.NoError(t, err)
	_, err = db.Write.Exec(`CREATE TABLE notes (id TEXT)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))

	paths := map[string]string{
		"missing file":               filepath.Join(dir, "missing.db"),
		"missing directory":          filepath.Join(dir, "nodir", "paidup.db"),
		"a directory":                filepath.Join(dir, "sub"),
		"a database of someone else": other,
	}
	before := dirFiles(t, dir)
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			out, err := runCommand("check", "--database-url", "sqlite:"+path)
			require.EqualError(t, err, "no paidup database at "+path, out)
			require.Equal(t, 1, exitCode(err))
			require.NotContains(t, out, "OK")
		})
	}
	// A relative path is named as the absolute path it stands for.
	t.Chdir(dir)
	_, err = runCommand("check", "--database-url", "sqlite:relative.db")
	require.EqualError(t, err, "no paidup database at "+filepath.Join(dir, "relative.db"))
	require.Equal(t, before, dirFiles(t, dir), "nothing created or changed")

	t.Run("postgres", func(t *testing.T) {
		empty := sqldbtest.URL(t, sqldb.Postgres)
		_, err := runCommand("check", "--database-url", empty)
		require.EqualError(t, err, "no paidup database at "+sqldb.Redact(empty))
		u, err := url.Parse(empty)
		require.NoError(t, err)
		u.Path = "/paidup_no_such_database"
		_, err = runCommand("check", "--database-url", u.String())
		require.EqualError(t, err, "no paidup database at "+sqldb.Redact(u.String()))
		db, err := sqldb.Open(context.Background(), empty)
		require.NoError(t, err)
		defer db.Close()
		ok, err := db.HasTable(context.Background(), "paidup_schema_version")
		require.NoError(t, err)
		require.False(t, ok, "no tables were created")
	})
}

// paidup check on paidup's database, while paidup runs and after it has
// stopped, checks it and changes nothing.
func TestCheckOnPaidupsDatabase(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		dir := t.TempDir()
		dbURL := sqldbtest.URL(t, engine)
		in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
			"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
		buyAndPay(t, in, "pro-annual", "ada@example.com")

		out, err := runCommand("check", "--database-url", dbURL)
		require.NoError(t, err, out)
		require.Contains(t, out, "checked 1 payments and 1 grants")
		require.Contains(t, out, "OK:")

		require.NoError(t, in.stop())
		var before map[string][32]byte
		if engine == sqldb.SQLite {
			before = dirFiles(t, filepath.Dir(dbURL[len("sqlite:"):]))
		}
		rows := countRows(t, dbURL, `SELECT count(*) FROM timeline`)
		out, err = runCommand("check", "--database-url", dbURL)
		require.NoError(t, err, out)
		require.Contains(t, out, "checked 1 payments and 1 grants")
		if engine == sqldb.SQLite {
			require.Equal(t, before, dirFiles(t, filepath.Dir(dbURL[len("sqlite:"):])), "no file created or changed")
		}
		require.Equal(t, rows, countRows(t, dbURL, `SELECT count(*) FROM timeline`))
	})
}

// buyAndPay buys a plan through the shop as a customer, pays with 4242…
// on the sandbox's page, and waits for the return page to say "You're in".
// It returns the checkout's reference.
func buyAndPay(t *testing.T, in *instance, plan, email string) string {
	t.Helper()
	return buyAndPayWith(t, in, plan, email, "4242 4242 4242 4242")
}

// buyAndPayWith is buyAndPay with another of the sandbox's test cards.
func buyAndPayWith(t *testing.T, in *instance, plan, email, card string) string {
	t.Helper()
	_, form := get(t, in.shop+"/buy/"+plan)
	ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(form)
	status, payPage, body := postForm(t, in.shop+"/buy/"+plan, url.Values{"email": {email}, "reference": {ref}})
	require.Equal(t, http.StatusSeeOther, status, body)
	status, back, body := postForm(t, payPage, url.Values{"card_number": {card}, "exp": {"12 / 34"}, "cvc": {"123"}})
	require.Equal(t, http.StatusSeeOther, status, body)
	_, body = get(t, back)
	require.Contains(t, body, "You're in")
	return ref
}
