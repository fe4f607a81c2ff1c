package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// walk is the lifecycle walkthrough (docs/walkthrough-lifecycle.md) as a
// newcomer follows it: the real binary started with one command in a
// directory of its own, a browser with cookies, the console's clock
// buttons, the mailbox, and the block commands in the same directory.
type walk struct {
	t             *testing.T
	bin, dir, log string
	shop, sandbox string
	browser       *http.Client
}

// A newcomer walks the lifecycle walkthrough, step by step, with the real
// binary: the terminal shows the banner first and whole; the sign-in
// session lasts through the sandbox's month jumps, so that the account
// page's card button opens the portal again at every step; `paidup
// block lift` dates the lift on the sandbox's clock, as serve dates what
// it does, and `block show` names the tier; the log has no warnings.
func TestWalkthroughWithTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("walks a subscriber through seven months")
	}
	w := startWalk(t)

	// The banner is the first thing in the terminal, and whole.
	out := readLog(w.log)
	end := strings.Index(out, "Stop with Ctrl-C.\n")
	require.Positive(t, end, out)
	banner := out[:end]
	require.True(t, strings.HasPrefix(banner, "\npaidup "), "the terminal begins with the banner:\n%s", out)
	require.NotContains(t, banner, `{"time"`, "no log line before or within the banner:\n%s", out)
	require.Contains(t, banner, "Shop:             "+w.shop+"/")

	// The browser's icon, on the shop and on the sandbox's console.
	for _, site := range []string{w.shop, w.sandbox} {
		resp, err := http.Get(site + "/favicon.ico")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, site)
		require.Equal(t, "image/x-icon", resp.Header.Get("Content-Type"))
		require.Regexp(t, `max-age=\d{7,}`, resp.Header.Get("Cache-Control"), "cached for weeks")
	}

	// 1. A supporter for life subscribes to Pro, and signs in.
	w.buy("supporter-lifetime", "4242 4242 4242 4242")
	w.buy("pro-monthly", "4242 4242 4242 4242")
	w.waitMail("You're in: Pro, monthly")
	w.signIn()
	require.Contains(t, accessCard(t, w.account()), "Pro")

	// 2. Renewals: two months on, still signed in, still Pro.
	w.press("month")
	w.press("month")
	require.Eventually(t, func() bool {
		_, _, console := w.do(http.MethodGet, w.sandbox+"/", nil)
		return strings.Count(section(t, console, "invoices"), ">paid<") == 3
	}, 30*time.Second, 100*time.Millisecond, "the console lists three paid invoices")
	page := w.waitAccount("Pro, renewed", func(p string) bool { return strings.Contains(accessCard(t, p), "Pro") })
	require.Contains(t, page, "Signed in as ana@example.com", "the session lasts through the clock's month jumps")

	// 3. The card fails; the grace and its reminders; back to Supporter.
	w.saveCard(w.portalFromAccount(), "4000 0000 0000 0341")
	w.press("month")
	w.waitMail("didn't go through")
	for range 3 {
		w.press("day")
	}
	w.waitMail("A reminder: please update your card")
	for range 3 {
		w.press("day")
	}
	w.waitMail("Your Pro access ends on")
	w.press("day")
	w.waitMail("Your Pro access has ended")
	w.waitAccount("Supporter", func(p string) bool { return strings.Contains(accessCard(t, p), "Supporter") })

	// 4. A late payment, through the latest email's card link.
	link := regexp.MustCompile(`http://\S+/card/[\w-]+`).FindString(w.latestMail().Text)
	require.NotEmpty(t, link)
	w.saveCard(w.portalFromCardLink(link), "4242 4242 4242 4242")
	w.waitMail("Welcome back: Pro is yours again")

	// 5. A chargeback, from the account page's card button again.
	w.saveCard(w.portalFromAccount(), "4000 0000 0000 0259")
	w.press("month")
	w.waitAccount("the hold", func(p string) bool { return strings.Contains(accessCard(t, p), "on hold") })
	w.saveCard(w.portalFromAccount(), "4242 4242 4242 4242")
	paid := strings.Count(w.account(), "Pro, monthly")
	w.press("month")
	w.waitAccount("the renewal paid", func(p string) bool { return strings.Count(p, "Pro, monthly") > paid })

	// 6. A person lifts the block, with the CLI, on the sandbox's clock.
	show := w.cli("block", "show", "--customer", "ana@example.com")
	require.Contains(t, show, "is blocked")
	lift := w.cli("block", "lift", "--customer", "ana@example.com", "--actor", "sam",
		"--reason", "the bank confirmed the dispute was a mistake")
	require.Contains(t, lift, "Lifted dispute block")
	m := regexp.MustCompile(`lifted (\S+) by sam`).FindStringSubmatch(lift)
	require.NotNil(t, m, lift)
	lifted, err := time.Parse(time.RFC3339, m[1])
	require.NoError(t, err)
	clock := w.sandboxClock()
	require.WithinDuration(t, clock, lifted, time.Minute, "the lift is dated on the sandbox's clock (%s), not this machine's", clock)
	require.Greater(t, lifted.Sub(time.Now()), 150*24*time.Hour)
	require.Contains(t, lift, "has access: Pro.", "block show names the tier")
	w.waitAccount("Pro again", func(p string) bool {
		a := accessCard(t, p)
		return strings.Contains(a, "Pro") && !strings.Contains(a, "on hold")
	})

	for _, line := range strings.Split(readLog(w.log), "\n") {
		require.NotContains(t, line, `"level":"WARN"`, "the newcomer's terminal has no warnings")
		require.NotContains(t, line, `"level":"ERROR"`)
		require.NotContains(t, line, `"status":404`)
	}
}

func startWalk(t *testing.T) *walk {
	bin := buildPaidup(t)
	w := &walk{t: t, bin: bin, dir: t.TempDir()}
	w.log = filepath.Join(w.dir, "terminal.log")
	shop, sandbox := "127.0.0.1:"+strconv.Itoa(crashPort(t)), "127.0.0.1:"+strconv.Itoa(crashPort(t))
	w.shop, w.sandbox = "http://"+shop, "http://"+sandbox
	f, err := os.Create(w.log)
	require.NoError(t, err)
	defer f.Close()
	// One command, in a directory of its own: the databases are
	// paidup.db and paidup-sandbox.db there.
	cmd := exec.Command(bin, "serve", "--listen", shop, "--sandbox-listen", sandbox)
	cmd.Dir, cmd.Env = w.dir, childEnv("")
	cmd.Stdout, cmd.Stderr = f, f // one terminal
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	c := &childProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(c.stop)
	waitForLine(t, c, w.log, regexp.MustCompile(`(Stop with Ctrl-C)`))
	waitChildHealthy(t, c, w.shop+"/healthz", w.log)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	w.browser = &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w
}

func (w *walk) do(method, page string, form url.Values) (int, string, string) {
	w.t.Helper()
	status, location, body, err := request(w.browser, method, page, form)
	require.NoError(w.t, err)
	return status, location, body
}

func (w *walk) buy(plan, card string) {
	w.t.Helper()
	status, pay, body := w.do(http.MethodPost, w.shop+"/buy/"+plan, url.Values{"email": {"ana@example.com"}})
	require.Equal(w.t, http.StatusSeeOther, status, body)
	status, back, body := w.do(http.MethodPost, pay, url.Values{"card_number": {card}, "exp": {"12 / 34"}, "cvc": {"123"}})
	require.Equal(w.t, http.StatusSeeOther, status, body)
	status, _, body = w.do(http.MethodGet, back, nil)
	require.Equal(w.t, http.StatusOK, status)
	require.Contains(w.t, body, "You're in")
}

// press presses one of the console's clock buttons.
func (w *walk) press(by string) {
	w.t.Helper()
	status, _, body := w.do(http.MethodPost, w.sandbox+"/console/clock/advance", url.Values{"by": {by}})
	require.Equal(w.t, http.StatusSeeOther, status, body)
}

func (w *walk) mail() []mailboxMessage {
	w.t.Helper()
	return mailboxMessages(w.t, w.sandbox, "ana@example.com")
}

func (w *walk) latestMail() mailboxMessage {
	w.t.Helper()
	m := w.mail()
	require.NotEmpty(w.t, m)
	return m[0]
}

func (w *walk) waitMail(subject string) {
	w.t.Helper()
	require.Eventually(w.t, func() bool {
		for _, m := range w.mail() {
			if strings.Contains(m.Subject, subject) {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "no email %q in the mailbox:\n%s", subject, logTail(w.log))
}

// signIn follows the sign-in link of the latest email.
func (w *walk) signIn() {
	w.t.Helper()
	token := regexp.MustCompile(`/account/sign-in\?token=([\w-]+)`).FindStringSubmatch(w.latestMail().Text)
	require.NotNil(w.t, token)
	status, _, body := w.do(http.MethodPost, w.shop+"/account/sign-in", url.Values{"token": {token[1]}})
	require.Equal(w.t, http.StatusSeeOther, status, body)
}

func (w *walk) account() string {
	w.t.Helper()
	status, _, body := w.do(http.MethodGet, w.shop+"/account", nil)
	require.Equal(w.t, http.StatusOK, status)
	return body
}

func (w *walk) waitAccount(what string, ok func(string) bool) string {
	w.t.Helper()
	var page string
	require.Eventually(w.t, func() bool { page = w.account(); return ok(page) }, 30*time.Second, 100*time.Millisecond,
		"the account page never showed %s:\n%s", what, page)
	return page
}

// portalFromAccount presses "Update your card" on the account page.
func (w *walk) portalFromAccount() string {
	w.t.Helper()
	status, portal, body := w.do(http.MethodPost, w.shop+"/account/card", url.Values{})
	require.Equal(w.t, http.StatusSeeOther, status, body)
	return portal
}

// portalFromCardLink opens an emailed card link and presses its button.
func (w *walk) portalFromCardLink(link string) string {
	w.t.Helper()
	_, _, body := w.do(http.MethodGet, link, nil)
	page := regexp.MustCompile(`name="page" value="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(w.t, page, body)
	status, portal, body := w.do(http.MethodPost, link, url.Values{"page": {page[1]}})
	require.Equal(w.t, http.StatusSeeOther, status, body)
	return portal
}

func (w *walk) saveCard(portal, card string) {
	w.t.Helper()
	require.True(w.t, strings.HasPrefix(portal, w.sandbox+"/p/"), portal)
	status, _, body := w.do(http.MethodPost, portal+"/card", url.Values{"card_number": {card}, "exp": {"12 / 34"}, "cvc": {"123"}})
	require.Less(w.t, status, 400, body)
}

// cli runs a paidup command in the walk's directory, as the walkthrough
// does in another terminal.
func (w *walk) cli(args ...string) string {
	w.t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Dir, cmd.Env = w.dir, childEnv("")
	out, err := cmd.CombinedOutput()
	require.NoError(w.t, err, "paidup %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

func (w *walk) sandboxClock() time.Time {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.sandbox+"/v1/test_helpers/test_clocks/clock_sandbox", nil)
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer sk_test_walkthrough")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	var tc struct {
		FrozenTime int64 `json:"frozen_time"`
	}
	require.NoError(w.t, json.NewDecoder(resp.Body).Decode(&tc))
	return time.Unix(tc.FrozenTime, 0)
}

// accessCard is the account page's box that says what the customer has.
func accessCard(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `data-testid="access"`)
	require.Positive(t, i, "the account page has no access box:\n%s", page)
	end := strings.Index(page[i:], "</div>")
	require.Positive(t, end)
	return page[i : i+end]
}

// section is the table with data-testid name on a page.
func section(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `data-testid="`+name+`"`)
	require.Positive(t, i, "no %s table", name)
	end := strings.Index(page[i:], "</table>")
	require.Positive(t, end)
	return page[i : i+end]
}
