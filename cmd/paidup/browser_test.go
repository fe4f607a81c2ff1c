package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// browser starts headless Chromium for a test. Without Chromium the test
// skips, unless PAIDUP_TEST_REQUIRE_BROWSER=1 (as in CI), where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("PAIDUP_TEST_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("PAIDUP_TEST_REQUIRE_BROWSER") == "1" {
			t.Fatal("PAIDUP_TEST_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium)")
		}
		t.Skip("browser tests skipped: install Chromium (apt-get install chromium) or set PAIDUP_TEST_CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "starting Chromium")
	return ctx
}

// A person clicks through the sandbox purchase in a real browser: the shop,
// the plan, their email, the sandbox's card page, and back to paidup. No
// page or icon the browser asks for is an error.
func TestBrowserPurchase(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", "sqlite:"+filepath.Join(dir, "paidup.db"),
		"--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))

	// Every answer the browser gets, shop's and sandbox's alike, favicon
	// included: none is an error.
	var mu sync.Mutex
	var answers []string
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok {
			mu.Lock()
			answers = append(answers, fmt.Sprintf("%d %s", e.Response.Status, e.Response.URL))
			mu.Unlock()
		}
	}))

	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "reading %s", sel)
		return v
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/"),
		chromedp.Click(chromedp.CSS(`[data-plan="pro-annual"] a.button`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	))
	ref := text(`.ref`)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada@example.com"),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`#card`)),
	))
	total := text(`[data-testid="total"]`)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#card`), "4242 4242 4242 4242"),
		chromedp.SendKeys(chromedp.CSS(`#exp`), "12 / 34"),
		chromedp.SendKeys(chromedp.CSS(`#cvc`), "123"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Ada Lovelace"),
		chromedp.Click(chromedp.CSS(`button.pay`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="state"]`)),
	))
	heading, state := text(`h1`), text(`[data-testid="state"]`)
	location, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, "$249.00", total)
	require.Regexp(t, `^PU-[0-9A-Z]{4}-[0-9A-Z]{4}$`, ref)
	require.Contains(t, location, in.shop+"/checkout/"+ref)
	require.Equal(t, "You're in", heading)
	require.Contains(t, state, "Your payment of $249.00 went through. You now have Pro, until ")

	// The confirmation is in the mailbox; its link signs the customer in.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.sandbox+"/mailbox/"),
		chromedp.Click(chromedp.CSS(`[data-testid="mailbox"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="text"] a[href*="/account/sign-in"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="text"] a[href*="/account/sign-in"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="access"]`)),
	))
	require.Contains(t, text(`[data-testid="access"]`), "Pro")
	require.Contains(t, text(`main`), ref)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(in.sandbox+"/")))
	console := text(`[data-testid="payments"]`)
	require.Contains(t, console, "$249.00")
	require.Contains(t, console, "succeeded")

	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, answers, "200 "+in.shop+"/favicon.ico", "the browser asks for the icon:\n%s", strings.Join(answers, "\n"))
	for _, a := range answers {
		require.Regexp(t, `^[123]\d\d `, a, "the browser got an error:\n%s", strings.Join(answers, "\n"))
	}
}
