package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
)

// At the default level a request is one log line, a webhook's included:
// the line names the event it stored and whether it was new. Health
// checks that pass are not logged at all; the 5xx a customer could see
// is, as an error.
func TestOneLogLinePerRequest(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	ref := formReference(t, b.do(t, "GET", "/buy/pro-annual", nil, nil).body)
	require.Equal(t, http.StatusSeeOther, b.do(t, "POST", "/buy/pro-annual", url.Values{"email": {"ada@example.com"}, "reference": {ref}}, nil).status)
	payload, sig := signedEvent(t, "evt_log_1", "checkout.session.completed", time.Now(), secret)
	require.Equal(t, http.StatusOK, b.postWebhook(t, payload, sig).status)
	require.Equal(t, http.StatusOK, b.postWebhook(t, payload, sig).status)
	require.Equal(t, http.StatusOK, b.do(t, "GET", "/healthz", nil, nil).status)

	type line struct {
		Level, Msg, Route, Event, Type, Result string
		Status                                 int
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimSpace(b.logs.String()), "\n") {
		var v line
		require.NoError(t, json.Unmarshal([]byte(l), &v), l)
		lines = append(lines, v)
	}
	require.Equal(t, []line{
		{Level: "INFO", Msg: "http", Route: "buy", Status: 200},
		{Level: "INFO", Msg: "http", Route: "buy_submit", Status: 303},
		{Level: "INFO", Msg: "http", Route: "webhook_stripe", Status: 200, Event: "evt_log_1", Type: "checkout.session.completed", Result: "new"},
		{Level: "INFO", Msg: "http", Route: "webhook_stripe", Status: 200, Event: "evt_log_1", Type: "checkout.session.completed", Result: "duplicate"},
	}, lines)
}
