package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// A customer who holds Pro for a year, signed in, opens Pro again: the
// buy page says until when they have it and that a second purchase is
// refunded, and asks. They buy anyway: the status page says the payment
// bought nothing and is refunded (never a second "You're in"), and the
// mailbox holds one refund email that says they keep what they had.
func TestBrowserBuyingWhatYouHave(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", "sqlite:"+filepath.Join(dir, "paidup.db"),
		"--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "reading %s", sel)
		return v
	}
	pay := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS(`#card`)),
			chromedp.SendKeys(chromedp.CSS(`#card`), "4242 4242 4242 4242"),
			chromedp.SendKeys(chromedp.CSS(`#exp`), "12 / 34"),
			chromedp.SendKeys(chromedp.CSS(`#cvc`), "123"),
			chromedp.SendKeys(chromedp.CSS(`#name`), "Ada Lovelace"),
			chromedp.Click(chromedp.CSS(`button.pay`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="state"]`)),
		))
	}

	// Ada buys Pro for a year, and signs in with the confirmation's link.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/buy/pro-annual"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	))
	require.Contains(t, text(`[data-testid="duplicate-note"]`), "Already have Pro? Buying it again adds nothing, and a second payment is refunded automatically.")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada@example.com"),
		chromedp.Submit(chromedp.CSS(`#email`)),
	))
	pay()
	require.Equal(t, "You're in", text(`h1`))
	until := "until " + time.Now().UTC().AddDate(1, 0, 0).Format("2 January 2006")
	require.Contains(t, text(`[data-testid="state"]`), "You now have Pro, "+until)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.sandbox+"/mailbox/"),
		chromedp.Click(chromedp.CSS(`[data-testid="mailbox"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="text"] a[href*="/account/sign-in"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="text"] a[href*="/account/sign-in"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="access"]`)),
	))

	// Pro again: the page says what she has, and asks.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/buy/pro-annual"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="held"]`)),
	))
	held := text(`[data-testid="held"]`)
	require.Contains(t, held, "You already have Pro "+until+".")
	require.Contains(t, held, "Buying it again adds nothing to what you have, and a second payment is refunded automatically. Do you mean to buy it again?")
	require.Equal(t, "Buy again anyway", text(`[data-testid="buy-anyway"]`))
	screenshot(t, ctx, "1-buy-page-warns")

	// Monthly too: what it costs, and what overlaps.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/buy/pro-monthly"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="held"]`)),
	))
	require.Contains(t, text(`[data-testid="held"]`), "This subscription charges $19.00 today and per month after that. Until "+strings.TrimPrefix(until, "until ")+" you would be paying twice for Pro")
	screenshot(t, ctx, "2-monthly-while-yearly")

	// She buys the year again anyway.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/buy/pro-annual"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="held"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="buy-anyway"]`)),
	))
	pay()
	heading := text(`h1`)
	require.NotEqual(t, "You're in", heading, "no second \"You're in\"")
	require.Contains(t, []string{"We're confirming your payment", "We're refunding this payment", "This payment was refunded"}, heading)
	// The page follows the refund as it is made.
	deadline := time.Now().Add(20 * time.Second)
	for heading != "This payment was refunded" {
		require.True(t, time.Now().Before(deadline), "the status page still says %q", heading)
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="state"]`))))
		heading = text(`h1`)
	}
	require.Contains(t, text(`[data-testid="state"]`), "This address already had Pro, so this payment bought nothing new. We have refunded it in full ($249.00).")
	screenshot(t, ctx, "3-status-refunded")

	// One refund email, which says she keeps what she had.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(in.sandbox+"/mailbox/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="mailbox"]`))))
	mailbox := text(`[data-testid="mailbox"]`)
	require.Equal(t, 1, strings.Count(mailbox, "Refunded: your second purchase of Pro, one year"), mailbox)
	require.Equal(t, 1, strings.Count(mailbox, "You're in"), mailbox)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="mailbox"] a`)), // newest first
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="text"]`)),
	))
	email := strings.Join(strings.Fields(text(`[data-testid="text"]`)), " ")
	require.Contains(t, email, "so that payment bought nothing new. We have refunded it in full: $249.00.")
	require.Contains(t, email, "Nothing changes for you: you keep Pro "+until+".")
	require.Regexp(t, `Your refund reference: PU-[0-9A-Z]{4}-[0-9A-Z]{4}`, email)
	screenshot(t, ctx, "4-refund-email")
}
