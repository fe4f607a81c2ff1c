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

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// The $249 story, told by the customer: they paid, every webhook was lost,
// they closed the tab, and the reconciler is not due for hours. They send
// the help form; paidup asks the processor about them at once, grants
// what they paid for, and emails them its confirmation, with a sign-in
// link. Someone paidup has
// nothing for gets a case and an acknowledgement instead; the page reads
// the same for both.
func TestHelpFormRecoversThePayment(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		dir := t.TempDir()
		cfg := string(exampleConfig(t))
		cfg = strings.Replace(cfg, "keys: []", "keys: ["+faultsAPIKey+"]", 1)
		cfg = strings.Replace(cfg, "  interval: 15s", "  interval: 24h", 1)
		cfgPath := filepath.Join(dir, "paidup.yaml")
		require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
		dbURL := sqldbtest.URL(t, engine)
		in := start(t, nil, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
			"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
		sandboxControl(t, in.sandbox, `{"faults": [{"action": "drop"}]}`)

		const email = "ada@example.com"
		_, form := get(t, in.shop+"/buy/pro-annual")
		ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(form)
		status, payPage, _ := postForm(t, in.shop+"/buy/pro-annual", url.Values{"email": {email}, "reference": {ref}})
		require.Equal(t, http.StatusSeeOther, status)
		status, _, _ = postForm(t, payPage, url.Values{"card_number": {"4242 4242 4242 4242"}, "exp": {"12/34"}, "cvc": {"123"}})
		require.Equal(t, http.StatusSeeOther, status)
		time.Sleep(time.Second)
		require.False(t, faultsAccess(t, in.shop, email), "charged, and no access: nothing told paidup")

		answer := func(email string) string {
			t.Helper()
			status, location, body := postForm(t, in.shop+"/help", url.Values{"email": {email}, "amount": {"$249"}, "date": {"today"}})
			require.Equal(t, http.StatusSeeOther, status, body)
			require.Equal(t, "/help?sent=1", location)
			return body
		}
		require.Equal(t, answer(email), answer("nobody@example.com"), "the same page whatever the address")

		require.Eventually(t, func() bool { return faultsAccess(t, in.shop, email) }, 30*time.Second, 100*time.Millisecond,
			"the help form's recovery granted the payment")
		var access, received mailboxMessage
		require.Eventually(t, func() bool {
			for _, m := range mailboxMessages(t, in.sandbox, email) {
				if strings.HasPrefix(m.Subject, "You're in") {
					access = m
				}
			}
			for _, m := range mailboxMessages(t, in.sandbox, "nobody@example.com") {
				if strings.HasPrefix(m.Subject, "We've received your message") {
					received = m
				}
			}
			return access.ID != 0 && received.ID != 0
		}, 30*time.Second, 100*time.Millisecond)
		require.Contains(t, access.Text, "What you have: Pro, until ")
		require.Regexp(t, `/account/sign-in\?token=`, access.Text)
		time.Sleep(time.Second)
		require.Len(t, mailboxMessages(t, in.sandbox, email), 1, "the confirmation answers; no second email")
		require.Contains(t, received.Text, "Your case number: sc_")
		require.Contains(t, received.Text, "Please don't pay again")

		require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM grants`), "one grant for one payment")
		require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM support_cases WHERE kind = 'help_request'`), "a case only for the stranger")
		require.Equal(t, 2, countRows(t, dbURL, `SELECT count(*) FROM audit_log WHERE actor = 'help form' AND action = 'recover'`),
			"each address's recovery is on the audit log")
		var stdout, stderr strings.Builder
		require.NoError(t, run(t.Context(), []string{"check", "--config", cfgPath, "--database-url", dbURL}, func(string) string { return "" }, &stdout, &stderr))
		require.Contains(t, stdout.String(), "OK")
	})
}

// In a real browser: someone paidup knows nothing of fills in the help
// form, with markup in what they type; the page says it has their message
// and nothing about what paidup found, and their mailbox gets the
// acknowledgement with their case number.
func TestBrowserHelpForm(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", "sqlite:"+filepath.Join(dir, "paidup.db"), "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
	shots := &shooter{t: t, ctx: ctx}
	const email = "lost@example.com"
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/help"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#amount`), "$249"),
		chromedp.SendKeys(chromedp.CSS(`#date`), "yesterday"),
		chromedp.SendKeys(chromedp.CSS(`#message`), `I paid <script>alert(1)</script> and have nothing`),
	))
	shots.shot("help-form")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)),
	))
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main h1`)))
	require.NoError(t, err)
	require.Equal(t, "We've got your message", heading)
	page, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	require.NoError(t, err)
	require.NotContains(t, page, "found", "the page says nothing of what paidup found")
	shots.shot("help-sent")

	var ack mailboxMessage
	require.Eventually(t, func() bool {
		for _, m := range mailboxMessages(t, in.sandbox, email) {
			if strings.HasPrefix(m.Subject, "We've received your message") {
				ack = m
			}
		}
		return ack.ID != 0
	}, 30*time.Second, 100*time.Millisecond, "the acknowledgement reaches them")
	require.Contains(t, ack.Text, "Your case number: sc_")
	require.Contains(t, ack.Text, "Please don't pay again")
}
