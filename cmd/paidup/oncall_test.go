package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/oncall/oncalltest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// With a rotation configured, paidup serve evaluates the alert rules on
// the leader: a flood of refused webhooks pages the operator on call by
// email and chat, not everyone in oncall.emails, and the link in the page
// acknowledges it on the shop's own address.
func TestServeWithRotationPagesAndAcknowledges(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		dir := t.TempDir()
		discord := oncalltest.NewChatEndpoint(t, "discord")
		cfg := string(exampleConfig(t))
		for from, to := range map[string]string{
			"  emails: []\n":         "  emails: [everyone@ops.example]\n",
			"  rotation: []\n":       "  rotation: [ada@ops.example, bob@ops.example]\n",
			"  chat: []\n":           "  chat: [{kind: discord, url: \"" + discord.URL() + "\"}]\n",
			"  evaluate_every: 1m\n": "  evaluate_every: 1s\n",
		} {
			require.Contains(t, cfg, from)
			cfg = strings.Replace(cfg, from, to, 1)
		}
		cfgPath := filepath.Join(dir, "paidup.yaml")
		require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
		dbURL := sqldbtest.URL(t, engine)
		in := start(t, nil, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
			"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))

		for range 25 {
			req, err := http.NewRequest(http.MethodPost, in.shop+"/webhooks/stripe", strings.NewReader(`{"id":"evt_forged","type":"checkout.session.completed"}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Stripe-Signature", "t=1,v1=00")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		}
		require.Eventually(t, func() bool { return len(discord.Messages()) > 0 }, 60*time.Second, 50*time.Millisecond, "paged in chat")
		msg := discord.Messages()[0]
		require.Contains(t, msg, "Webhooks are being refused")
		require.Eventually(t, func() bool {
			return countRows(t, dbURL, `SELECT count(*) FROM emails WHERE kind = 'oncall_alert' AND status = 'sent'`) == 1
		}, 20*time.Second, 50*time.Millisecond, "paged by email")
		require.Equal(t, 0, countRows(t, dbURL, `SELECT count(*) FROM emails WHERE kind = 'alert'`), "oncall.emails is not mailed")

		link := regexp.MustCompile(`Acknowledge: (\S+)`).FindStringSubmatch(msg)
		require.NotNil(t, link, msg)
		require.True(t, strings.HasPrefix(link[1], in.shop+"/oncall/ack/"), link[1])
		status, body := get(t, link[1])
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "<button")
		status, _, body = postForm(t, link[1], url.Values{})
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "Acknowledged by ")
		require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM alerts WHERE state = 'acknowledged'`))
		require.NoError(t, in.stop())
	})
}
