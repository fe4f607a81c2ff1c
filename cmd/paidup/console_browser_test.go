package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// An operator added from the command line signs in to the console in a
// real browser, with the password and a code computed from the TOTP
// secret paidup operator add printed, lands on the open cases, and opens
// the customer's page; the console's cookie opens no customer's account.
func TestBrowserConsoleSignIn(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "paidup.db")
	noEnv := func(string) string { return "" }
	cmd := func(args ...string) string {
		t.Helper()
		var stdout, stderr strings.Builder
		err := run(context.Background(), append(args, "--database-url", dbURL), noEnv, &stdout, &stderr)
		require.NoError(t, err, stderr.String())
		return stdout.String()
	}
	out := cmd("operator", "add", "ada@example.com") // before paidup first ran
	password, secret := setupLine(t, out, "Password"), setupLine(t, out, "TOTP secret")

	// A case the reconciler might have opened, about a customer.
	db, st, err := openStore(context.Background(), dbURL, time.Now)
	require.NoError(t, err)
	var customer string
	require.NoError(t, st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		if customer, _, err = tx.MatchCustomer(context.Background(), "stripe", "cus_browser", "grace@example.com"); err != nil {
			return err
		}
		return (&notify.Outbox{}).OpenCase(context.Background(), tx, paidup.SupportCase{DedupeKey: "unconfirmed:PU-7K3M-Q9XD", CustomerID: customer,
			Reference: "PU-7K3M-Q9XD", Kind: paidup.CaseUnconfirmed, Summary: "The processor never said how checkout PU-7K3M-Q9XD ended."})
	}))
	db.Close()

	in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0", "--database-url", dbURL,
		"--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
	shots := &shooter{t: t, ctx: ctx}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "reading %s", sel)
		return v
	}
	location := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		return l
	}

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	))
	require.Equal(t, in.shop+"/console/sign-in", location(), "signed out, the console sends the browser to sign in")
	shots.shot("console-sign-in")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada@example.com"),
		// By keyboard: Enter sends each form.
		chromedp.SendKeys(chromedp.CSS(`#password`), password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	))
	shots.shot("console-code")
	code, err := totp.GenerateCode(secret, time.Now())
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), code+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`ol.items`)),
	))
	require.Equal(t, "Open cases", text(`main h1`))
	require.Equal(t, in.shop+"/console/", location())
	require.Contains(t, text(`main`), "The processor never said how checkout PU-7K3M-Q9XD ended.")
	shots.shot("console-cases")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/console/customers/`+customer+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#access`)),
	))
	body := text(`main`)
	require.Contains(t, body, "grace@example.com")
	require.Contains(t, body, "No: no grant is active.")
	shots.shot("console-customer")
	// On a phone.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	shots.shot("console-customer-phone")
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))

	// The operator's cookie is no customer's: the account page asks them
	// to sign in.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/link"]`)),
	))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/sign-out"] button`)),
	))

	// Signed out, the console is closed again.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	))
	require.Contains(t, text(`main`), "You are signed out.")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(in.shop+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	))
	require.Equal(t, in.shop+"/console/sign-in", location())
}
