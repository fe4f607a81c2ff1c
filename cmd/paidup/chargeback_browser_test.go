package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
)

// A customer's chargeback, in a real browser: they own Supporter for life
// and subscribe to Pro monthly with a card whose payment their bank
// disputes (the sandbox's 4000 0000 0000 0259). The hold email arrives in
// the mailbox, over SMTP; the account page says their access is on hold
// and lists the disputed payment as disputed, not paid; the lifetime
// purchase's status page says it is on hold; support finds the customer by
// the email's reference with paidup block show. A person lifts the block with
// paidup block lift: the hold-lifted email says Supporter is back for
// good, and the account page shows it. Screenshots of each step are saved
// (under $PAIDUP_TEST_ARTIFACTS when set).
func TestBrowserChargebackHoldAndLift(t *testing.T) {
	ctx := browser(t)
	l := startLife(t, sqldb.SQLite, "ana@example.com")
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "reading %s", sel)
		return v
	}
	buy := func(plan, card string) string {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(l.in.shop+"/"),
			chromedp.Click(chromedp.CSS(`[data-plan="`+plan+`"] a.button`)),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), l.email),
			chromedp.Submit(chromedp.CSS(`#email`)),
			chromedp.WaitVisible(chromedp.CSS(`#card`)),
			chromedp.SendKeys(chromedp.CSS(`#card`), card),
			chromedp.SendKeys(chromedp.CSS(`#exp`), "12 / 34"),
			chromedp.SendKeys(chromedp.CSS(`#cvc`), "123"),
			chromedp.SendKeys(chromedp.CSS(`#name`), "Ana Lima"),
			chromedp.Click(chromedp.CSS(`button.pay`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="state"]`)),
		))
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		return loc
	}
	// openMail waits for a message whose subject contains subject and
	// opens it; it returns the message's text.
	openMail := func(subject string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(l.in.sandbox+"/mailbox/")))
			list := text(`[data-testid="mailbox"]`)
			if strings.Contains(list, subject) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no email %q in the mailbox:\n%s", subject, list)
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(chromedp.Search(`//a[contains(., "`+subject+`")]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="text"]`))))
		return text(`[data-testid="text"]`)
	}

	lifetime := buy("supporter-lifetime", "4242 4242 4242 4242")
	require.Equal(t, "You're in", text(`h1`))
	buy("pro-monthly", "4000 0000 0000 0259")
	l.wantAccess("blocked")

	// The hold email: calm, factual, with one reference and a person to
	// write to.
	hold := openMail("Your access is on hold")
	screenshot(t, ctx, "1-hold-email")
	for _, want := range []string{"Your bank has told us that the payment of $19.00", "for Pro, monthly is being disputed (a chargeback)",
		"your access is on hold, from", "Pro ended on",
		"Supporter is not taken away: it is back as soon as the hold is lifted, with no end date.",
		"a person on our team will look at it", "When the hold is lifted, we will email you.", "Your reference: PU-"} {
		require.Contains(t, hold, want)
	}
	for _, never := range []string{"fraud", "dp_", "ch_", "pi_"} {
		require.NotContains(t, hold, never)
	}

	// Support finds the customer by the reference the email quotes.
	ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`)
	var stdout, stderr strings.Builder
	require.NoError(t, run(t.Context(), []string{"block", "show", "--config", l.cfgPath, "--database-url", l.dbURL,
		"--customer", strings.ToLower(ref.FindString(hold))}, func(string) string { return "" }, &stdout, &stderr), stderr.String())
	show := stdout.String()
	t.Logf("paidup block show --customer %s:\n%s", ref.FindString(hold), show)
	for _, want := range []string{"ana@example.com", "is blocked: no access", "chargeback " + ref.FindString(hold),
		"Supporter (purchase,", "suspended by the block, for good", "Pro (subscription,", "ended "} {
		require.Contains(t, show, want)
	}
	err := run(t.Context(), []string{"block", "show", "--config", l.cfgPath, "--database-url", l.dbURL, "--customer", "PU-ZZZZ-ZZZZ"},
		func(string) string { return "" }, &stdout, &stderr)
	require.ErrorContains(t, err, "no customer with reference PU-ZZZZ-ZZZZ")

	// Signed in, the account page says the access is on hold, and the
	// disputed payment is not "Paid".
	openMail("You're in: Supporter")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="text"] a[href*="/account/sign-in"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="access"]`))))
	screenshot(t, ctx, "2-account-on-hold")
	require.Contains(t, text(`[data-testid="access"]`), "Your access is on hold")
	purchases := text(`main`)
	require.Contains(t, purchases, "Pro, monthly · $19.00 · Disputed")
	require.Contains(t, purchases, "Supporter, lifetime · $49.00 · Paid")

	// The lifetime purchase's own page says so too, not "You're in".
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(lifetime), chromedp.WaitVisible(chromedp.CSS(`[data-testid="state"]`))))
	screenshot(t, ctx, "3-status-on-hold")
	require.Equal(t, "Your access is on hold", text(`h1`))

	// A person lifts the block from the command line.
	stdout.Reset()
	require.NoError(t, run(t.Context(), []string{"block", "lift", "--config", l.cfgPath, "--database-url", l.dbURL,
		"--customer", l.email, "--actor", "sam", "--reason", "the bank withdrew the chargeback"},
		func(string) string { return "" }, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "has access: Supporter.")
	l.wantAccess("supporter")

	restored := openMail("The hold is lifted: Supporter is back")
	screenshot(t, ctx, "4-hold-lifted-email")
	for _, want := range []string{"The hold on your account was lifted on", "You have Supporter again, for good.",
		"Pro, which ended with the chargeback, stays ended.", "Your reference: PU-"} {
		require.Contains(t, restored, want)
	}
	require.Equal(t, ref.FindString(hold), ref.FindString(restored), "one reference for the chargeback")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(l.in.shop+"/account"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="access"]`))))
	screenshot(t, ctx, "5-account-restored")
	access := text(`[data-testid="access"]`)
	require.Contains(t, access, "Supporter")
	require.Contains(t, access, "Yours for good.")
	require.Contains(t, text(`main`), "Pro, monthly · $19.00 · Disputed")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(lifetime), chromedp.WaitVisible(chromedp.CSS(`[data-testid="state"]`))))
	screenshot(t, ctx, "6-status-restored")
	require.Equal(t, "You're in", text(`h1`))
	require.Equal(t, 1, l.mailCount("Your access is on hold"))
	require.Equal(t, 1, l.mailCount("The hold is lifted"))
}
