package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/web"
)

// The help form answers the same, at once, whatever the address — a
// customer's or not — and hands the request to a job that answers by
// email; a bad address is asked again, and what was typed comes back
// escaped.
func TestHelpForm(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		r := b.do(t, "GET", "/help?reference=PU-7K3M-Q9XD", nil, nil)
		require.Equal(t, http.StatusOK, r.status)
		text := visibleText(r.body)
		require.Contains(t, text, "Charged, but no access?")
		require.Contains(t, text, "please don't pay again")
		require.Contains(t, r.body, `value="PU-7K3M-Q9XD"`)
		require.NotContains(t, b.do(t, "GET", "/help?reference=%22%3E%3Cscript%3E", nil, nil).body, "<script>")

		r = b.do(t, "POST", "/help", url.Values{"email": {"not an address"}, "message": {`<script>alert(1)</script>`}}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Contains(t, visibleText(r.body), "Please enter the email address you paid with.")
		require.NotContains(t, r.body, "<script>alert(1)</script>")
		require.Contains(t, r.body, "&lt;script&gt;alert(1)&lt;/script&gt;")

		// A customer's address and a stranger's read alike.
		b.submit(t, "pro-annual", "ada@example.com", "", nil)
		var answers []response
		for _, email := range []string{"ada@example.com", "nobody@example.com"} {
			r := b.do(t, "POST", "/help", url.Values{"email": {email}, "amount": {"$249"}, "message": {strings.Repeat("é", 3000)}}, nil)
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			require.Equal(t, "/help?sent=1", r.header.Get("Location"))
			answers = append(answers, r)
		}
		require.Equal(t, answers[0].body, answers[1].body)
		text = visibleText(b.do(t, "GET", "/help?sent=1", nil, nil).body)
		require.Contains(t, text, "We've got your message")
		require.Contains(t, text, "We answer by email")
		require.Contains(t, text, "Please don't pay again")
		var jobs int
		require.NoError(t, b.store.DB().Read.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'help_request'`).Scan(&jobs))
		require.Equal(t, 2, jobs, "each request handed to a job")
	})
}

// One client sending the help form over and over is refused past the
// limit, calmly.
func TestHelpFormIsLimited(t *testing.T) {
	b := setup(t, sqldb.SQLite, withLimits(web.Limits{Help: limit.Rule{PerMinute: 1, Burst: 2}, MaxClients: 1000}))
	for range 2 {
		require.Equal(t, http.StatusSeeOther, b.do(t, "POST", "/help", url.Values{"email": {"ada@example.com"}}, nil).status)
	}
	r := b.do(t, "POST", "/help", url.Values{"email": {"ada@example.com"}}, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Contains(t, visibleText(r.body), "its answer is on its way by email")
}
