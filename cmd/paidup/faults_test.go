package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

const faultsAPIKey = "faults-test-api-key-0123456789abc"

// The webhook fault suite: the processor's webhooks arrive twice, out of
// order, late, or not at all, and the customer never comes back to the
// return page. Whatever the internet does, the customer ends with access,
// exactly one grant and exactly one confirmation, and paidup check passes.
func TestWebhookFaultSuite(t *testing.T) {
	faults := []struct {
		name  string
		rules string
	}{
		{"duplicated", `[{"action": "duplicate"}]`},
		{"reordered", `[{"action": "reorder", "count": 5}]`},
		{"delayed", `[{"action": "delay", "delay": "1500ms"}]`},
		{"dropped", `[{"action": "drop"}]`},
		{"completion dropped, the rest duplicated", `[{"action": "drop", "event": "checkout.session.completed"}, {"action": "duplicate"}]`},
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		for _, f := range faults {
			t.Run(f.name, func(t *testing.T) {
				dir := t.TempDir()
				cfg := string(exampleConfig(t))
				cfg = strings.Replace(cfg, "keys: []", "keys: ["+faultsAPIKey+"]", 1)
				cfg = strings.Replace(cfg, "  interval: 15s", "  interval: 250ms", 1)
				cfg = strings.Replace(cfg, "recheck: [1m, 5m, 1h, 1d, 1d, 1d, 1d, 1d, 1d, 1d]", "recheck: [1s, 1s, 2s, 5s, 1h]", 1)
				cfgPath := filepath.Join(dir, "paidup.yaml")
				require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
				dbURL := sqldbtest.URL(t, engine)
				in := start(t, nil, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
					"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
				sandboxControl(t, in.sandbox, `{"faults": `+f.rules+`}`)

				const email = "ada@example.com"
				_, form := get(t, in.shop+"/buy/pro-annual")
				ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(form)
				status, payPage, _ := postForm(t, in.shop+"/buy/pro-annual", url.Values{"email": {email}, "reference": {ref}})
				require.Equal(t, http.StatusSeeOther, status)
				status, _, _ = postForm(t, payPage, url.Values{"card_number": {"4242 4242 4242 4242"}, "exp": {"12/34"}, "cvc": {"123"}})
				require.Equal(t, http.StatusSeeOther, status)
				// The customer closes the tab: only webhooks and the
				// reconciler are left.

				require.Eventually(t, func() bool { return faultsAccess(t, in.shop, email) }, 30*time.Second, 100*time.Millisecond)
				require.Eventually(t, func() bool {
					return countRows(t, dbURL, `SELECT count(*) FROM emails WHERE status = 'sent'`) == 1
				}, 30*time.Second, 100*time.Millisecond)
				// Let every delayed, reordered and duplicated delivery land.
				require.Eventually(t, func() bool {
					return !strings.Contains(sandboxGet(t, in.sandbox, "/_sandbox/deliveries?status=pending"), `"id"`) &&
						!strings.Contains(sandboxGet(t, in.sandbox, "/_sandbox/deliveries?status=held"), `"id"`)
				}, 30*time.Second, 100*time.Millisecond)
				// And let their processing jobs finish.
				require.Eventually(t, func() bool {
					return countRows(t, dbURL, `SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')
						AND kind <> 'reconcile'`) == 0
				}, 30*time.Second, 100*time.Millisecond)

				require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM grants`))
				require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM emails`))
				require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM timeline WHERE kind = 'grant'`))
				require.Equal(t, 0, countRows(t, dbURL, `SELECT count(*) FROM support_cases`))
				require.Equal(t, 1, mailboxCount(t, in.sandbox, email))

				var stdout, stderr strings.Builder
				require.NoError(t, run(t.Context(), []string{"check", "--config", cfgPath, "--database-url", dbURL}, func(string) string { return "" }, &stdout, &stderr))
				require.Contains(t, stdout.String(), "OK")
			})
		}
	})
}

func faultsAccess(t *testing.T, shop, email string) bool {
	req, _ := http.NewRequest(http.MethodGet, shop+"/api/v1/access?email="+url.QueryEscape(email), nil)
	req.Header.Set("Authorization", "Bearer "+faultsAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var a struct{ Active bool }
	json.NewDecoder(resp.Body).Decode(&a)
	return a.Active
}

func sandboxControl(t *testing.T, sandboxURL, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, sandboxURL+"/_sandbox/faults", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk_test_faults")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func sandboxGet(t *testing.T, sandboxURL, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, sandboxURL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk_test_faults")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

func mailboxCount(t *testing.T, sandboxURL, to string) int {
	t.Helper()
	resp, err := http.Get(sandboxURL + "/mailbox/messages.json?to=" + url.QueryEscape(to))
	require.NoError(t, err)
	defer resp.Body.Close()
	var m struct {
		Messages []struct{ Subject string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return len(m.Messages)
}
