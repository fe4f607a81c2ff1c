package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
)

// A newcomer runs `paidup demo --console`, signs in to the console in a
// real browser with the password and a code from the TOTP secret it
// printed, finds Maya — charged $249 with nothing, her case opened by the
// reconciler — fixes her with one button, sees her access flip, and
// replies from a template; the reply reaches her mailbox, with its
// sign-in link.
func TestBrowserConsoleDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	ctx := browser(t)
	shopPort, err := freePort()
	require.NoError(t, err)
	worldPort, err := freePort()
	require.NoError(t, err)
	shop, world := "http://127.0.0.1:"+shopPort, "http://127.0.0.1:"+worldPort
	cmd := exec.Command(buildPaidup(t), "demo", "--console", "--listen", "127.0.0.1:"+shopPort, "--sandbox-listen", "127.0.0.1:"+worldPort)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		scan := bufio.NewScanner(stdout)
		for scan.Scan() {
			lines <- scan.Text()
		}
	}()
	var out strings.Builder
	deadline := time.After(4 * time.Minute)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the demo stopped before it was ready:\n%s\n%s", out.String(), stderr.String())
			}
			out.WriteString(l + "\n")
			ready = l == "Ready. Press Ctrl-C to stop."
		case <-deadline:
			t.Fatalf("the demo was not ready in four minutes:\n%s\n%s", out.String(), stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	text := out.String()
	for _, who := range []string{"ada@", "ben@", "carol@", "dan@", "erin@", "maya@", "omar@"} {
		require.Contains(t, text, who, "the demo names each of its customers")
	}
	password := regexp.MustCompile(`Password:\s+(\S+)`).FindStringSubmatch(text)
	secret := regexp.MustCompile(`TOTP secret (\S+)`).FindStringSubmatch(text)
	require.NotNil(t, password, text)
	require.NotNil(t, secret, text)

	shots := &shooter{t: t, ctx: ctx}
	read := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "reading %s", sel)
		return v
	}
	code, err := totp.GenerateCode(secret[1], time.Now())
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(shop+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), demoOperator),
		chromedp.SendKeys(chromedp.CSS(`#password`), password[1]+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		chromedp.SendKeys(chromedp.CSS(`#code`), code+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`ol.items`)),
	))
	inbox := read(`main`)
	require.Contains(t, inbox, "unconfirmed")
	require.Contains(t, inbox, "$249.00 at stake")
	require.Contains(t, inbox, "dispute")
	require.Contains(t, inbox, "help_request")
	require.Contains(t, inbox, "2 open unconfirmed cases")
	shots.shot("demo-inbox")

	// Found by part of her address: her checkout, which has no customer
	// yet, and its case.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#nav-q`), "maya"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#access`)),
	))
	require.Contains(t, read(`main`), "No: paidup has no payment recorded for this checkout")
	shots.shot("demo-checkout")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href^="/console/cases/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#who`)),
	))
	require.Contains(t, read(`section[aria-labelledby=who]`), "paidup has no customer for this case yet")
	caseURL, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	shots.shot("demo-case")

	// One click: the processor is asked, the payment recorded, access
	// granted.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action$="/recover"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#outcome`)),
	))
	require.Contains(t, read(`#outcome`), "granted Pro until")
	require.Contains(t, read(`section[aria-labelledby=who]`), "Can get in: Pro")
	shots.shot("demo-recovered")

	// A reply from the template, previewed, then sent.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#template`), "charged_no_access_repaired"),
		chromedp.Click(chromedp.CSS(`form[action$="/reply/preview"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#preview`)),
	))
	preview := read(`main`)
	require.Contains(t, preview, "To "+mayaEmail)
	require.Contains(t, preview, "$249.00")
	shots.shot("demo-reply-preview")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action$="/reply"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#outcome`)),
	))
	require.Contains(t, read(`#outcome`), "the case now waits on them")
	shots.shot("demo-replied")

	// The reply reaches her, with a link that signs her in.
	var reply string
	require.Eventually(t, func() bool {
		resp, err := http.Get(world + "/mailbox/messages.json?to=" + mayaEmail)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var list struct {
			Messages []struct{ Subject, Text string }
		}
		if json.NewDecoder(resp.Body).Decode(&list) != nil {
			return false
		}
		for _, m := range list.Messages {
			if strings.Contains(m.Subject, "access is ready") {
				reply = m.Text
				return true
			}
		}
		return false
	}, time.Minute, 200*time.Millisecond, "the reply reaches Maya's mailbox")
	require.Contains(t, reply, shop+"/account/sign-in?token=")

	// Maya answers on the page the reply's link opens; her answer is on
	// the case, which is open for a person again.
	answerLink := regexp.MustCompile(regexp.QuoteMeta(shop) + `/reply/[A-Za-z0-9_-]+`).FindString(reply)
	require.NotEmpty(t, answerLink, reply)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(answerLink),
		chromedp.WaitVisible(chromedp.CSS(`#text`)),
		chromedp.SendKeys(chromedp.CSS(`#text`), "Thank you! It works now. <b>Really</b>."),
		chromedp.Submit(chromedp.CSS(`#text`)),
		chromedp.WaitVisible(chromedp.CSS(`[role=status]`)),
	))
	require.Contains(t, read(`[role=status]`), "we've got your message")
	require.Contains(t, read(`.message.yours`), "Thank you! It works now. <b>Really</b>.")
	shots.shot("demo-answer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(caseURL),
		chromedp.WaitVisible(chromedp.CSS(`article.message.in`)),
	))
	require.Contains(t, read(`article.message.in`), "Thank you! It works now. <b>Really</b>.", "her words, as text")
	require.Contains(t, read(`main p.meta`), "· open")
	shots.shot("demo-answer-threaded")

	// The outage's other case, with Maya's, as one group: recovered with
	// one press after its preview.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(shop+"/console/"),
		chromedp.Click(chromedp.CSS(`a[href="/console/groups/unconfirmed"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#will`)),
	))
	require.Contains(t, read(`main`), omarEmail)
	shots.shot("demo-group-preview")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/console/groups/unconfirmed"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#outcome`)),
	))
	require.Contains(t, read(`#outcome`), "recover: 2 done now")
	require.Contains(t, read(`main`), "granted Pro until")
	shots.shot("demo-group-recovered")

	// Omar, found by his payment's id from his page, can get in.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#nav-q`), omarEmail+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#payments`)),
	))
	pi := regexp.MustCompile(`pi_[A-Za-z0-9]+`).FindString(read(`section[aria-labelledby=payments]`))
	require.NotEmpty(t, pi)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(shop+"/console/"),
		chromedp.SendKeys(chromedp.CSS(`#nav-q`), pi+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#access`)),
	))
	require.Contains(t, read(`section[aria-labelledby=access]`), "Yes: Pro")
	require.Contains(t, read(`h1`), omarEmail)

	// A refund from his page, previewed, then confirmed by the processor.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href*="/refund?payment=`+pi+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#reason`)),
		chromedp.SendKeys(chromedp.CSS(`#amount`), "49.00"),
		chromedp.SendKeys(chromedp.CSS(`#reason`), "asked for the price of the monthly plan"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#will`)),
	))
	require.Contains(t, read(`#will + ul`), "$49.00")
	shots.shot("demo-refund-preview")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action$="/refund"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#outcome`)),
	))
	require.Contains(t, read(`#outcome`), "succeeded")
	require.Contains(t, read(`section[aria-labelledby=payments]`), "$49.00 refunded")
	shots.shot("demo-refunded")

	// His own account page, as he sees it: read only.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href$="/account"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=read-only]`)),
	))
	account := read(`main`)
	require.Contains(t, account, "Support's view: "+omarEmail)
	require.Contains(t, account, "Pro")
	require.Contains(t, account, "$249.00")
	enabled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main button:not([disabled])")].map(b => b.textContent)`))
	require.NoError(t, err)
	require.Empty(t, enabled, "every button of the customer's page is disabled in support's view")
	shots.shot("demo-account-view")

	// Ctrl-C stops the demo cleanly.
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop on Ctrl-C")
	}
}
