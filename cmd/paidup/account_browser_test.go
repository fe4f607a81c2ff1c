package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
)

// pageText is the visible text of the element sel.
func pageText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "reading %s", sel)
	return v
}

// mailWith waits for the count-th message to addr whose subject contains
// subject, and returns it.
func mailWith(t *testing.T, sandboxURL, addr, subject string, count int) mailboxMessage {
	t.Helper()
	var found []mailboxMessage
	require.Eventually(t, func() bool {
		found = found[:0]
		for _, m := range mailboxMessages(t, sandboxURL, addr) {
			if strings.Contains(m.Subject, subject) {
				found = append(found, m)
			}
		}
		return len(found) >= count
	}, 20*time.Second, 50*time.Millisecond, "want %d emails %q to %s", count, subject, addr)
	latest := found[0]
	for _, m := range found {
		if m.ID > latest.ID {
			latest = m
		}
	}
	return latest
}

var signInURL = regexp.MustCompile(`https?://\S+/account/sign-in\?token=[A-Za-z0-9_-]+`)

// askForSignInLink fills in the account page's form in the browser.
func askForSignInLink(t *testing.T, ctx context.Context, shop, email string) string {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(shop+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="sent"]`)),
	))
	return pageText(t, ctx, `[data-testid="sent"]`)
}

// signInFrom opens a sign-in link in the browser and confirms it.
func signInFrom(t *testing.T, ctx context.Context, link string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/sign-in"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="access"]`)),
	))
}

// A customer asks for a sign-in link, and asks again a moment later: a
// second email arrives (a new link), the page says when and to check the
// spam folder, and the newest link signs them in.
func TestBrowserSignInLinkAskedTwice(t *testing.T) {
	ctx := browser(t)
	l := startLife(t, sqldb.SQLite, "ada@example.com")
	l.buy("pro-annual", "4242 4242 4242 4242")
	mailWith(t, l.in.sandbox, l.email, "You're in", 1)

	first := askForSignInLink(t, ctx, l.in.shop, l.email)
	require.Regexp(t, `^If we know that address, we sent it a sign-in link at [0-9]{2}:[0-9]{2} UTC\.`, first)
	require.Contains(t, first, "Check your spam folder")
	screenshot(t, ctx, "1-first-request")
	mailWith(t, l.in.sandbox, l.email, "Your sign-in link", 1)

	second := askForSignInLink(t, ctx, l.in.shop, l.email)
	require.Regexp(t, `^If we know that address, we sent it a sign-in link at `, second)
	screenshot(t, ctx, "2-second-request")
	latest := mailWith(t, l.in.sandbox, l.email, "Your sign-in link", 2)
	link := signInURL.FindString(latest.Text)
	require.NotEmpty(t, link, latest.Text)

	signInFrom(t, ctx, link)
	require.Contains(t, pageText(t, ctx, `main`), "Signed in as ada@example.com")
	screenshot(t, ctx, "3-signed-in")
}

// A subscriber cancels from the account page in a real browser: the page
// then says it is cancelled and until when they keep their tier, the
// processor has it ending with the period, and the confirmation email
// arrives, once, saying the same. Resuming turns it all back.
func TestBrowserCancelFromAccount(t *testing.T) {
	ctx := browser(t)
	l := startLife(t, sqldb.SQLite, "bea@example.com")
	l.buy("pro-monthly", "4242 4242 4242 4242")
	confirmation := mailWith(t, l.in.sandbox, l.email, "You're in", 1)
	signInFrom(t, ctx, signInURL.FindString(confirmation.Text))

	state := pageText(t, ctx, `[data-testid="subscription-state"]`)
	require.Contains(t, state, "Renews on ")
	screenshot(t, ctx, "1-renews")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="cancel"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="notice"]`)),
	))
	require.Contains(t, pageText(t, ctx, `[data-testid="notice"]`), "Your subscription is cancelled. It will not renew")
	state = pageText(t, ctx, `[data-testid="subscription-state"]`)
	require.Contains(t, state, "Cancelled: you keep Pro until ")
	require.NotContains(t, pageText(t, ctx, `main`), "Renews on")
	until := regexp.MustCompile(`until ([0-9]{1,2} [A-Z][a-z]+ [0-9]{4})`).FindStringSubmatch(state)
	require.NotNil(t, until, state)
	screenshot(t, ctx, "2-cancelled")
	require.True(t, l.subscription().CancelAtPeriodEnd, "the processor has it ending with its period")

	mail := mailWith(t, l.in.sandbox, l.email, "is cancelled", 1)
	require.Contains(t, mail.Subject, "Pro until "+until[1])
	require.Contains(t, mail.Text, "You keep Pro until "+until[1])
	require.NotRegexp(t, `\b(in|ch|re|dp|cus|sub|pi)_[A-Za-z0-9]`, mail.Text, "no processor ids")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(l.in.sandbox+"/mailbox/"+strconv.FormatInt(mail.ID, 10)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="text"]`))))
	screenshot(t, ctx, "3-email")

	// Resumed: the page reads as before, and one more email says so.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(l.in.shop+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="resume"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="resume"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="notice"]`)),
	))
	require.Contains(t, pageText(t, ctx, `[data-testid="notice"]`), "no longer cancelled")
	require.Contains(t, pageText(t, ctx, `[data-testid="subscription-state"]`), "Renews on "+until[1])
	screenshot(t, ctx, "4-resumed")
	require.False(t, l.subscription().CancelAtPeriodEnd)
	resumed := mailWith(t, l.in.sandbox, l.email, "renews again", 1)
	require.Contains(t, resumed.Text, "renews on "+until[1])

	l.settle()
	require.Len(t, mailsWith(t, l.in.sandbox, l.email, "is cancelled"), 1, "one cancellation email")
	require.Len(t, mailsWith(t, l.in.sandbox, l.email, "renews again"), 1, "one resumed email")
}

func mailsWith(t *testing.T, sandboxURL, addr, subject string) []mailboxMessage {
	var out []mailboxMessage
	for _, m := range mailboxMessages(t, sandboxURL, addr) {
		if strings.Contains(m.Subject, subject) {
			out = append(out, m)
		}
	}
	return out
}
