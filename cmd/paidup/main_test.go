package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// instance is paidup (or its sandbox) running in-process through run, as
// main runs it.
type instance struct {
	shop, sandbox, smtp string
	// inbound is paidup's own SMTP listener for the customers' answers.
	inbound string
	stdout  *syncBuffer
	stderr  *syncBuffer
	stop    func() error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var urlLine = regexp.MustCompile(`^\s+(Shop|Sandbox console|API|Mail|Inbound mail):\s+((?:http|smtp)://[0-9.:]+)`)

// start runs `paidup ARGS...` and waits until it serves /healthz.
func start(t *testing.T, env map[string]string, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	in := &instance{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		err := run(ctx, args, getenv, io.MultiWriter(pw, in.stdout), in.stderr)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
			switch m[1] {
			case "Shop":
				in.shop = m[2]
			case "Mail":
				in.smtp = m[2]
			case "Inbound mail":
				in.inbound = m[2]
			default:
				in.sandbox = m[2]
			}
		}
		if strings.HasPrefix(sc.Text(), "Stop with Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if in.shop == "" && in.sandbox == "" {
		cancel()
		t.Fatalf("paidup did not start: %v\nstderr:\n%s", <-done, in.stderr.String())
	}
	var once sync.Once
	var stopErr error
	in.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = context.DeadlineExceeded
			}
		})
		return stopErr
	}
	t.Cleanup(func() { in.stop() })
	health := in.shop
	if health == "" {
		health = in.sandbox
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get(health + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	return in
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func postForm(t *testing.T, target string, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := noRedirect.PostForm(target, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func get(t *testing.T, target string) (int, string) {
	t.Helper()
	resp, err := http.Get(target)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// queryString reads one text value from the database.
func queryString(t *testing.T, dbURL, query string, args ...any) string {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dbURL)
	require.NoError(t, err)
	defer db.Close()
	var s string
	require.NoError(t, db.Read.QueryRow(query, args...).Scan(&s))
	return s
}

func countRows(t *testing.T, dbURL, query string, args ...any) int {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dbURL)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.Read.QueryRow(query, args...).Scan(&n))
	return n
}

// The newcomer's path with no configuration: paidup serve, open the shop,
// pick a plan, pay on the sandbox's page with 4242…, and the sandbox records
// the payment and delivers signed events that paidup stores.
func TestServeWithoutConfigurationTakesAPayment(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		dir := t.TempDir()
		dbURL := sqldbtest.URL(t, engine)
		in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
			"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
		require.Contains(t, in.stdout.String(), "4242 4242 4242 4242")
		require.NotEmpty(t, in.sandbox)

		status, body := get(t, in.shop+"/")
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "Pro, one year")
		_, form := get(t, in.shop+"/buy/pro-annual")
		ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(form)

		status, payPage, _ := postForm(t, in.shop+"/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}})
		require.Equal(t, http.StatusSeeOther, status)
		require.True(t, strings.HasPrefix(payPage, in.sandbox+"/c/pay/cs_test_"), payPage)

		status, back, _ := postForm(t, payPage, url.Values{"card_number": {"4242 4242 4242 4242"}, "exp": {"12 / 34"}, "cvc": {"123"}, "name": {"Ada Lovelace"}})
		require.Equal(t, http.StatusSeeOther, status)
		require.Regexp(t, returnAddress(in.shop, ref), back)
		status, body = get(t, back)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, ref)
		require.Contains(t, body, "You're in")

		_, console := get(t, in.sandbox+"/")
		require.Contains(t, console, "$249.00")
		require.Contains(t, console, "succeeded")
		require.Eventually(t, func() bool {
			return countRows(t, dbURL, `SELECT count(*) FROM webhook_events WHERE type = 'checkout.session.completed'`) == 1
		}, 10*time.Second, 50*time.Millisecond, "the signed checkout.session.completed event reaches paidup and is stored")
		require.Eventually(t, func() bool {
			_, m := get(t, in.shop+"/metrics")
			return strings.Contains(m, `paidup_emails{status="sent"} 1`) && strings.Contains(m, "paidup_checkouts_unresolved 0") &&
				strings.Contains(m, "paidup_state_up 1")
		}, 10*time.Second, 50*time.Millisecond, "the state gauges show the confirmation sent and nothing unresolved")
		require.NoError(t, in.stop())
		require.NotContains(t, in.stderr.String(), "4242 4242", "no card number in the logs")
		require.NotContains(t, in.stderr.String(), "4242424242424242", "no card number in the logs")
		require.NotContains(t, in.stderr.String(), "whsec_", "no webhook secret in the logs")
	})
}

// paidup and the sandbox as two processes, as paidup and Stripe are:
// paidup is configured like for Stripe, with the sandbox's URL.
func TestSeparateSandboxProcess(t *testing.T) {
	dir := t.TempDir()
	const whsec = "whsec_separate_processes"
	sb := start(t, nil, "sandbox", "--sandbox-listen", "127.0.0.1:0",
		"--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"),
		"--webhook-url", "http://127.0.0.1:1/unused", "--webhook-secret", whsec, "--smtp-listen", "127.0.0.1:0")
	require.NotEmpty(t, sb.sandbox)

	cfg := strings.Replace(string(exampleConfig(t)), "kind: sandbox", "kind: stripe", 1)
	cfg = strings.Replace(cfg, `secret_key: ""`, `secret_key: sk_test_separate`, 1)
	cfg = strings.Replace(cfg, "webhook_secrets: []", "webhook_secrets: ["+whsec+"]", 1)
	cfg = strings.Replace(cfg, `api_url: ""`, "api_url: "+sb.sandbox, 1)
	cfg = strings.Replace(cfg, `  url: ""
  # The From:`, "  url: "+sb.smtp+"\n  # The From:", 1)
	path := filepath.Join(dir, "paidup.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	dbURL := "sqlite:" + filepath.Join(dir, "paidup.db")
	in := start(t, nil, "serve", "--config", path, "--listen", "127.0.0.1:0", "--database-url", dbURL)
	require.Empty(t, in.sandbox, "no sandbox runs inside paidup when it talks to Stripe")

	status, loc, _ := postForm(t, in.shop+"/buy/supporter-lifetime", url.Values{"email": {"grace@example.com"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.True(t, strings.HasPrefix(loc, sb.sandbox+"/c/pay/"), loc)
}

func exampleConfig(t *testing.T) []byte {
	data, err := os.ReadFile(filepath.Join("..", "..", "paidup.example.yaml"))
	require.NoError(t, err)
	return data
}

// A bad configuration is refused at start with the file, line and reason,
// and nothing is written.
func TestBadConfigurationIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "paidup.yaml")
	bad := strings.Replace(string(exampleConfig(t)), "tier: pro\n", "tier: platinum\n", 1)
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o600))
	dbPath := filepath.Join(dir, "paidup.db")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--config", path, "--database-url", "sqlite:" + dbPath,
		"--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0"}, func(string) string { return "" }, &stdout, &stderr)
	require.Error(t, err)
	require.Regexp(t, regexp.QuoteMeta(path)+`:\d+: plans\[1\]\.tier: "platinum" is not a tier`, err.Error())
	_, statErr := os.Stat(dbPath)
	require.True(t, os.IsNotExist(statErr), "nothing is written")
}

func TestCommands(t *testing.T) {
	var stdout, stderr bytes.Buffer
	noenv := func(string) string { return "" }
	require.NoError(t, run(context.Background(), []string{"version"}, noenv, &stdout, &stderr))
	require.True(t, strings.HasPrefix(stdout.String(), "paidup "))

	err := run(context.Background(), []string{"frobnicate"}, noenv, &stdout, &stderr)
	require.ErrorContains(t, err, `unknown command "frobnicate"`)
	require.Equal(t, 2, exitCode(err))
	err = run(context.Background(), []string{"serve", "--nope"}, noenv, &stdout, &stderr)
	require.Equal(t, 2, exitCode(err))
	err = run(context.Background(), []string{"serve", "--log-level", "loud"}, noenv, &stdout, &stderr)
	require.Equal(t, 2, exitCode(err))

	// The environment configures; a flag beats it.
	env := func(k string) string { return map[string]string{"PAIDUP_DATABASE_URL": "mysql://nope"}[k] }
	err = run(context.Background(), []string{"migrate"}, env, &stdout, &stderr)
	require.ErrorContains(t, err, "database.url: want sqlite:PATH or postgres://")
	dbPath := filepath.Join(t.TempDir(), "x.db")
	require.NoError(t, run(context.Background(), []string{"migrate", "--database-url", "sqlite:" + dbPath}, env, &stdout, &stderr))
	_, err = os.Stat(dbPath)
	require.NoError(t, err)
}

func TestMigrate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		dbURL := sqldbtest.URL(t, engine)
		var stdout, stderr bytes.Buffer
		env := func(k string) string { return map[string]string{"PAIDUP_DATABASE_URL": dbURL}[k] }
		require.NoError(t, run(context.Background(), []string{"migrate"}, env, &stdout, &stderr))
		require.Regexp(t, `applied [1-9]\d* paidup and [1-9]\d* job queue migrations`, stdout.String())
		stdout.Reset()
		require.NoError(t, run(context.Background(), []string{"migrate"}, env, &stdout, &stderr))
		require.Contains(t, stdout.String(), "applied 0 paidup and 0 job queue migrations")
		n := countRows(t, dbURL, `SELECT count(*) FROM checkout_attempts`)
		require.Zero(t, n)
	})
}
