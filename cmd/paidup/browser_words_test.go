package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// artifacts is where a browser test keeps its screenshots:
// $PAIDUP_TEST_ARTIFACTS/TEST when set, else a directory of the test's.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("PAIDUP_TEST_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, t.Name())
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// screenshot saves a full-page screenshot of what the browser shows as
// name.png among the test's artifacts.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot %s", name)
	path := filepath.Join(artifacts(t), name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s", path)
}

// shooter saves numbered screenshots of what the browser shows.
type shooter struct {
	t   *testing.T
	ctx context.Context
	n   int
}

func (s *shooter) shot(name string) {
	s.t.Helper()
	s.n++
	screenshot(s.t, s.ctx, fmt.Sprintf("%02d-%s", s.n, name))
}

// What a customer reads in a real browser is true as they read it: after
// paying, Back to the card page and its "← Back to …" link lead to "You're
// in", never to "nothing was charged"; a monthly plan's return page and
// confirmation email say when it renews and how to cancel, never that
// nothing more is charged; every email's replies go to support.
func TestBrowserWordsAfterPaying(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", "sqlite:"+filepath.Join(dir, "paidup.db"),
		"--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
	shots := &shooter{t: t, ctx: ctx}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "reading %s", sel)
		return v
	}
	// buy goes from the shop to the card page of plan, and returns the
	// reference and the card page's way back.
	buy := func(plan, email string) (ref, back string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(in.shop+"/"),
			chromedp.Click(chromedp.CSS(`[data-plan="`+plan+`"] a.button`)),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
		))
		ref = text(`.ref`)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.Submit(chromedp.CSS(`#email`)),
			chromedp.WaitVisible(chromedp.CSS(`#card`)),
		))
		link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`a.small`), "href"))
		require.NoError(t, err)
		require.True(t, link.Exists, "the card page has a way back")
		back = link.Value
		shots.shot(plan + "-card-page")
		return ref, back
	}
	pay := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS(`#card`), "4242 4242 4242 4242"),
			chromedp.SendKeys(chromedp.CSS(`#exp`), "12 / 34"),
			chromedp.SendKeys(chromedp.CSS(`#cvc`), "123"),
			chromedp.SendKeys(chromedp.CSS(`#name`), "Ada Lovelace"),
			chromedp.Click(chromedp.CSS(`button.pay`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="state"]`)),
		))
	}

	// A one-time purchase, paid; then Back, and the card page's way back.
	ref, back := buy("pro-annual", "ada@example.com")
	require.Contains(t, back, "cancelled="+ref)
	pay()
	require.Equal(t, "You're in", text(`h1`))
	shots.shot("pro-annual-paid")
	_, err := chromedp.Run(ctx, chromedp.Evaluate[any](`history.back()`))
	require.NoError(t, err)
	// The page may come from the browser's back-forward cache, which the
	// DevTools DOM does not follow: ask the page itself.
	var onCardPage bool
	for deadline := time.Now().Add(10 * time.Second); !onCardPage && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		onCardPage, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`location.pathname.startsWith("/c/pay/") && document.readyState === "complete" && !!document.querySelector(".banner")`))
	}
	require.True(t, onCardPage, "Back leads to the processor's card page")
	shots.shot("pro-annual-back-to-card-page")
	// The card page shows its way back; the customer follows it.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("a.small").click(), true`))
	require.NoError(t, err)
	var landed bool
	for deadline := time.Now().Add(10 * time.Second); !landed && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		landed, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`location.pathname.startsWith("/checkout/") && document.readyState === "complete"`))
	}
	require.True(t, landed, "the way back leads to the purchase's status page")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`h1`))))
	shots.shot("pro-annual-back-link")
	location, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, location, in.shop+"/checkout/"+ref, "the way back leads to the purchase's status page")
	require.Equal(t, "You're in", text(`h1`))
	page := text(`main`)
	require.NotContains(t, page, "nothing was charged")
	require.NotContains(t, page, "nothing has been charged")
	require.Contains(t, page, "you will not be charged again for this purchase")

	// A monthly plan: its return page says when it renews and how to
	// cancel.
	ref, _ = buy("pro-monthly", "bob@example.com")
	pay()
	require.Equal(t, "You're in", text(`h1`))
	shots.shot("pro-monthly-paid")
	next := text(`[data-testid="next"]`)
	require.Regexp(t, `Your plan renews on \d{1,2} [A-Z][a-z]+ \d{4}: \$\d+\.\d\d is charged to your card then`, next)
	require.Contains(t, next, "cancel any time from your account page")
	require.NotContains(t, text(`main`), "not be charged again")

	// And so does its confirmation, both parts, read from the mailbox the
	// mail server delivered it to.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.sandbox+"/mailbox/"),
		chromedp.Click(chromedp.Search(`//table[@data-testid="mailbox"]//tr[contains(., "bob@example.com")]//a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="text"]`)),
	))
	shots.shot("pro-monthly-email-text")
	mail := text(`[data-testid="text"]`)
	require.Contains(t, mail, ref)
	require.Regexp(t, `Your plan renews on \d{1,2} [A-Z][a-z]+ \d{4}`, mail)
	require.Contains(t, mail, "cancel any time")
	require.NotContains(t, mail, "not be charged again")
	message, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(message+"/html"), chromedp.WaitVisible(chromedp.CSS(`body`))))
	shots.shot("pro-monthly-email-html")
	html := text(`body`)
	require.Regexp(t, `Your plan renews on \d{1,2} [A-Z][a-z]+ \d{4}`, html)
	require.NotContains(t, html, "not be charged again")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(message+"/raw"), chromedp.WaitVisible(chromedp.CSS(`body`))))
	raw := text(`body`)
	require.Contains(t, raw, "Reply-To: <support@example.com>", "replies go to support")
	require.True(t, strings.Contains(raw, "From: \"Example Community\" <billing@example.com>") || strings.Contains(raw, "From: Example Community <billing@example.com>"), raw[:min(len(raw), 400)])
}
