package sandbox_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// browser requests the sandbox's pages as a browser without JavaScript
// would, without following redirects.
func (b *bundle) browse(t *testing.T, method, path string, form url.Values) (status int, location, body string) {
	t.Helper()
	var req *http.Request
	var err error
	if form != nil {
		req, err = http.NewRequest(method, b.opts.BaseURL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, err = http.NewRequest(method, b.opts.BaseURL+path, nil)
	}
	require.NoError(t, err)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode < 300 || resp.StatusCode >= 400 {
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

// card is a filled-in checkout form.
func card(number string, kv ...string) url.Values {
	v := url.Values{"card_number": {number}, "exp": {"12/34"}, "cvc": {"123"}, "name": {"Ada Lovelace"}}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// text is a page's text with HTML entities decoded, for finding messages.
func text(body string) string { return html.UnescapeString(body) }

func (b *bundle) session(t *testing.T, id string) *stripe.CheckoutSession {
	t.Helper()
	cs, err := b.client.V1CheckoutSessions.Retrieve(context.Background(), id, nil)
	require.NoError(t, err)
	return cs
}

// charges returns the statuses of every charge, newest first.
func (b *bundle) charges(t *testing.T) []stripe.ChargeStatus {
	t.Helper()
	var out []stripe.ChargeStatus
	for ch, err := range b.client.V1Charges.List(context.Background(), nil) {
		require.NoError(t, err)
		out = append(out, ch.Status)
	}
	return out
}

// newAnonymousSession creates a session that does not know the customer's
// email, so the page asks for it.
func (b *bundle) newAnonymousSession(t *testing.T, ref string) *stripe.CheckoutSession {
	t.Helper()
	cs, err := b.client.V1CheckoutSessions.Create(context.Background(), &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String("payment"),
		ClientReferenceID: stripe.String(ref),
		SuccessURL:        stripe.String("http://127.0.0.1:8080/done?session_id={CHECKOUT_SESSION_ID}"),
		LineItems:         []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_pro_annual"), Quantity: stripe.Int64(1)}},
	})
	require.NoError(t, err)
	return cs
}

// The page shows what is being paid for, to whom, and for which customer;
// a test card pays it once, however often the customer clicks Pay.
func TestCheckoutPagePays(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		cs := b.newSession(t, "PU-PAGE")
		path := strings.TrimPrefix(cs.URL, b.opts.BaseURL)
		require.Equal(t, "/c/pay/"+cs.ID, path)

		status, _, body := b.browse(t, "GET", path, nil)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "$249.00")
		require.Contains(t, body, "Test Community")
		require.Contains(t, body, "Pro, one year")
		require.Contains(t, body, `value="ada@example.com" readonly`, "the session's email is filled in and fixed")

		status, location, _ := b.browse(t, "POST", path, card("4242 4242 4242 4242"))
		require.Equal(t, http.StatusSeeOther, status)
		want := "http://127.0.0.1:8080/checkout/PU-PAGE?session_id=" + cs.ID
		require.Equal(t, want, location, "{CHECKOUT_SESSION_ID} is replaced with the session id")

		paid, err := b.client.V1CheckoutSessions.Retrieve(context.Background(), cs.ID, &stripe.CheckoutSessionRetrieveParams{
			Params: stripe.Params{Expand: []*string{stripe.String("payment_intent.latest_charge")}},
		})
		require.NoError(t, err)
		require.Equal(t, stripe.CheckoutSessionStatusComplete, paid.Status)
		require.Equal(t, "Ada Lovelace", paid.CustomerDetails.Name)
		c := paid.PaymentIntent.LatestCharge.PaymentMethodDetails.Card
		require.Equal(t, "4242", c.Last4)
		require.Equal(t, int64(12), c.ExpMonth)
		require.Equal(t, int64(2034), c.ExpYear)

		status, location, _ = b.browse(t, "POST", path, card("4242 4242 4242 4242"))
		require.Equal(t, http.StatusSeeOther, status, "a second click on Pay")
		require.Equal(t, want, location)
		require.Equal(t, []stripe.ChargeStatus{stripe.ChargeStatusSucceeded}, b.charges(t), "still exactly one charge")

		status, _, body = b.browse(t, "GET", path, nil)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "Payment complete")
		require.Contains(t, body, `href="`+strings.ReplaceAll(want, "&", "&amp;")+`"`)
	})
}

// Declined cards show Stripe's message and leave the session open.
func TestCheckoutPageDeclines(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		cs := b.newSession(t, "PU-DECLINE")
		path := "/c/pay/" + cs.ID

		status, _, body := b.browse(t, "POST", path, card("4000 0000 0000 0002"))
		require.Equal(t, http.StatusPaymentRequired, status)
		require.Contains(t, text(body), "Your card was declined.")
		require.NotContains(t, body, `value="4000 0000 0000 0002"`, "the declined number is not filled in again")
		require.Equal(t, stripe.CheckoutSessionStatusOpen, b.session(t, cs.ID).Status)
		require.Equal(t, []stripe.ChargeStatus{stripe.ChargeStatusFailed}, b.charges(t))

		_, isTest := testCardNumbers["4111111111111111"]
		require.False(t, isTest, "4111 1111 1111 1111 passes the checksum but is not a test card")
		status, _, body = b.browse(t, "POST", path, card("4111 1111 1111 1111"))
		require.Equal(t, http.StatusPaymentRequired, status)
		require.Contains(t, text(body), "Your request was in test mode, but used a non test (live) card.")
		require.Equal(t, stripe.CheckoutSessionStatusOpen, b.session(t, cs.ID).Status)

		status, _, _ = b.browse(t, "POST", path, card("4242-4242-4242-4242"))
		require.Equal(t, http.StatusSeeOther, status, "a good card after declines pays")
		require.Equal(t, []stripe.ChargeStatus{stripe.ChargeStatusSucceeded, stripe.ChargeStatusFailed, stripe.ChargeStatusFailed}, b.charges(t))
	})
}

// testCardNumbers are the test cards the page recognises (see cards.go).
var testCardNumbers = map[string]bool{
	"4242424242424242": true, "4000056655665556": true, "5555555555554444": true, "378282246310005": true,
	"4000000000000002": true, "4000000000009995": true, "4000000000009987": true, "4000000000009979": true,
	"4000000000000069": true, "4000000000000127": true, "4000000000000119": true, "4100000000000019": true,
}

// What the customer types wrong is shown back to them, and nothing is
// charged.
func TestCheckoutPageRejectsBadInput(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		cs := b.newAnonymousSession(t, "PU-TYPO")
		path := "/c/pay/" + cs.ID
		good := "4242 4242 4242 4242"
		for _, tc := range []struct {
			name    string
			form    url.Values
			message string
		}{
			{"number failing the checksum", card("4242 4242 4242 4241", "email", "ada@example.com"), "Your card number is invalid."},
			{"number too short", card("4242", "email", "ada@example.com"), "Your card number is invalid."},
			{"no number", card("", "email", "ada@example.com"), "Your card number is incomplete."},
			{"expired", card(good, "email", "ada@example.com", "exp", "01/20"), "Your card's expiration year is in the past."},
			{"no such month", card(good, "email", "ada@example.com", "exp", "13/34"), "Your card's expiration date is incomplete."},
			{"short CVC", card(good, "email", "ada@example.com", "cvc", "12"), "Your card's security code is incomplete."},
			{"no email", card(good), "Your email address is incomplete."},
			{"not an email", card(good, "email", "ada"), "Your email address is incomplete."},
			{"name too long", card(good, "email", "ada@example.com", "name", strings.Repeat("n", 201)), "The name on the card is too long."},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := b.browse(t, "POST", path, tc.form)
				require.Equal(t, http.StatusUnprocessableEntity, status)
				require.Contains(t, text(body), tc.message)
				require.Empty(t, b.charges(t), "nothing is charged")
				require.Equal(t, stripe.CheckoutSessionStatusOpen, b.session(t, cs.ID).Status)
			})
		}
	})
}

// Text the customer types is escaped when the page shows it again.
func TestCheckoutPageEscapesInput(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	cs := b.newAnonymousSession(t, `<script>alert("ref")</script>`)
	status, _, body := b.browse(t, "POST", "/c/pay/"+cs.ID, card("4242 4242 4242 4242",
		"email", `<script>alert("email")</script>`, "name", `"><script>alert("name")</script>`))
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.NotContains(t, body, "<script>")
	require.Contains(t, body, `&lt;script&gt;alert(&#34;email&#34;)&lt;/script&gt;`)
	require.Contains(t, body, `&#34;&gt;&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;`)

	status, _, body = b.browse(t, "GET", "/", nil)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, "<script>", "the console escapes the client reference too")
	require.Contains(t, body, `&lt;script&gt;alert(&#34;ref&#34;)&lt;/script&gt;`)
}

// Sessions that cannot be paid show a page saying why.
func TestCheckoutPageUnpayableSessions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		for _, method := range []string{"GET", "POST"} {
			var form url.Values
			if method == "POST" {
				form = card("4242 4242 4242 4242")
			}
			status, _, body := b.browse(t, method, "/c/pay/cs_test_nope", form)
			require.Equal(t, http.StatusNotFound, status, method)
			require.Contains(t, body, "This payment link is not valid")
		}

		expired := b.newSession(t, "PU-GONE")
		_, err := b.client.V1CheckoutSessions.Expire(context.Background(), expired.ID, nil)
		require.NoError(t, err)
		timedOut := b.newSession(t, "PU-LATE")
		b.clock.Add(24*time.Hour + time.Second)
		for _, id := range []string{expired.ID, timedOut.ID} {
			status, _, body := b.browse(t, "GET", "/c/pay/"+id, nil)
			require.Equal(t, http.StatusGone, status)
			require.Contains(t, body, "This checkout has expired")
			status, _, _ = b.browse(t, "POST", "/c/pay/"+id, card("4242 4242 4242 4242"))
			require.Equal(t, http.StatusGone, status)
		}
		require.Empty(t, b.charges(t))
	})
}

// A form body larger than any real checkout form is refused unread.
func TestCheckoutPageRefusesOversizedForm(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	cs := b.newSession(t, "PU-BIG")
	status, _, body := b.browse(t, "POST", "/c/pay/"+cs.ID, card("4242 4242 4242 4242", "name", strings.Repeat("n", 17<<10)))
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, body, "too large")
	require.Empty(t, b.charges(t))
	require.Equal(t, stripe.CheckoutSessionStatusOpen, b.session(t, cs.ID).Status)
}

// The console lists payments, sessions and events with their deliveries.
func TestConsole(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	cs := b.newSession(t, "PU-CONSOLE")
	paid, err := b.pay(cs.ID, "pm_card_visa")
	require.NoError(t, err)
	b.settle(t)

	status, _, body := b.browse(t, "GET", "/", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, paid.PaymentIntent.ID)
	require.Contains(t, body, "$249.00")
	require.Contains(t, body, "ada@example.com")
	require.Contains(t, body, cs.ID)
	for _, typ := range []string{"customer.created", "payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"} {
		require.Contains(t, body, "<code>"+typ+"</code>")
	}
	require.Contains(t, body, b.hooks.srv.URL+"/webhooks/stripe")
}

// The console lists invoices and disputes, and shows metadata as
// "key: value", one pair a line, rather than Go's map syntax.
func TestConsoleListsInvoicesAndDisputes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := billingSetup(t, engine, setupOpts{})
		cs := b.subscribe(t, "PU-CONSOLE-DP", "ada@example.com", "pm_card_createDispute")
		_, err := b.pay(b.newSession(t, "PU-CONSOLE-PI").ID, "pm_card_visa")
		require.NoError(t, err)
		b.settle(t)
		status, _, body := b.browse(t, "GET", "/", nil)
		require.Equal(t, http.StatusOK, status)

		invoices := section(t, body, "invoices")
		require.Contains(t, invoices, "<code>"+cs.Invoice.ID+"</code>")
		require.Contains(t, invoices, "<code>"+cs.Subscription.ID+"</code>")
		require.Contains(t, invoices, "ada@example.com")
		require.Contains(t, invoices, "$9.00")
		require.Contains(t, invoices, ">paid<")

		disputes := section(t, body, "disputes")
		require.Regexp(t, `<code>dp_\w+</code>`, disputes)
		require.Contains(t, disputes, "ada@example.com")
		require.Contains(t, disputes, "fraudulent")
		require.Contains(t, disputes, "needs response")

		payments := section(t, body, "payments")
		require.Contains(t, payments, "<code>paidup_checkout: PU-CONSOLE-PI</code>")
		require.NotContains(t, body, "map[", "no Go map syntax on the console")
	})
}

// section is the table with data-testid name on a page.
func section(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `data-testid="`+name+`"`)
	require.Positive(t, i, "no %s table", name)
	end := strings.Index(body[i:], "</table>")
	require.Positive(t, end)
	return body[i : i+end]
}
