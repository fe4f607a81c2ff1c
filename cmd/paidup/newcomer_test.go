package main

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// In a terminal, where standard output and standard error are one, serve
// and sandbox show their banner first and whole: the log lines written
// while they start wait for it.
func TestBannerFirst(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		started string
	}{
		{[]string{"serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
			"--database-url", "sqlite:" + filepath.Join(dir, "paidup.db"), "--sandbox-database-url", "sqlite:" + filepath.Join(dir, "sandbox.db")},
			"paidup started"},
		{[]string{"sandbox", "--sandbox-listen", "127.0.0.1:0", "--sandbox-database-url", "sqlite:" + filepath.Join(dir, "alone.db"),
			"--smtp-listen", "off", "--webhook-url", "http://127.0.0.1:1/unused"},
			"sandbox started"},
	} {
		terminal := &syncBuffer{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- run(ctx, c.args, func(string) string { return "" }, terminal, terminal) }()
		require.Eventually(t, func() bool { return strings.Contains(terminal.String(), "Stop with Ctrl-C.") }, 20*time.Second, 10*time.Millisecond)
		cancel()
		require.NoError(t, <-done)
		out := terminal.String()
		end := strings.Index(out, "Stop with Ctrl-C.\n")
		require.Positive(t, end, out)
		require.True(t, strings.HasPrefix(out, "\npaidup "), "the banner comes first:\n%s", out)
		require.NotContains(t, out[:end], `{"time"`, "no log line before or within the banner:\n%s", out)
		require.Contains(t, out[end:], `"msg":"`+c.started+`"`, "the log follows the banner")
	}
}

// A command that changes paidup's records after the sandbox's clock moved
// a month on dates the change on that clock, as serve would: a block is
// lifted after it was made, not a month before.
func TestBlockLiftOnTheSandboxClock(t *testing.T) {
	dir := t.TempDir()
	dbURL, sbURL := "sqlite:"+filepath.Join(dir, "paidup.db"), "sqlite:"+filepath.Join(dir, "sandbox.db")
	in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", dbURL, "--sandbox-database-url", sbURL)
	status, pay, _ := postForm(t, in.shop+"/buy/supporter-lifetime", url.Values{"email": {"ana@example.com"}})
	require.Equal(t, http.StatusSeeOther, status)
	status, _, _ = postForm(t, pay, url.Values{"card_number": {"4000 0000 0000 0259"}, "exp": {"12 / 34"}, "cvc": {"123"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Eventually(t, func() bool {
		return countRows(t, dbURL, `SELECT count(*) FROM blocks`) == 1
	}, 20*time.Second, 50*time.Millisecond, "the chargeback blocks her")
	status, _, _ = postForm(t, in.sandbox+"/console/clock/advance", url.Values{"by": {"month"}})
	require.Equal(t, http.StatusSeeOther, status)

	var stdout, stderr strings.Builder
	require.NoError(t, run(t.Context(), []string{"block", "lift", "--database-url", dbURL, "--sandbox-database-url", sbURL,
		"--customer", "ana@example.com", "--actor", "sam", "--reason", "the bank reversed it"},
		func(string) string { return "" }, &stdout, &stderr), stderr.String())
	m := regexp.MustCompile(`\(dispute, (\S+)\).* lifted (\S+) by sam`).FindStringSubmatch(stdout.String())
	require.NotNil(t, m, stdout.String())
	blocked, err := time.Parse(time.RFC3339, m[1])
	require.NoError(t, err)
	lifted, err := time.Parse(time.RFC3339, m[2])
	require.NoError(t, err)
	require.True(t, lifted.After(blocked), "lifted %s, after the block of %s", lifted, blocked)
	require.Greater(t, lifted.Sub(time.Now()), 27*24*time.Hour, "on the sandbox's clock, a month on")
}
