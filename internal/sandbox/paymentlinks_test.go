package sandbox_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

var browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// visit opens a URL as a browser would, without following redirects.
func visit(t *testing.T, target string) (int, string, string) {
	t.Helper()
	resp, err := browser.Get(target)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// payOnPage pays on a session's hosted page with the test card, as a
// customer does, and returns the answer.
func payOnPage(t *testing.T, page, email string) (int, string, string) {
	t.Helper()
	resp, err := browser.PostForm(page, url.Values{"card_number": {"4242 4242 4242 4242"}, "exp": {"12 / 34"}, "cvc": {"123"},
		"name": {"Mallory"}, "email": {email}})
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// Payment links as Stripe has them, through stripe-go: created with line
// items and a redirect, listed, read with their line items; each visit to
// the link's URL makes a Checkout Session from it — with the URL's
// client_reference_id (when Stripe would accept it) and prefilled_email,
// the link's metadata, payment_link set — and sends the buyer to its
// payment page, then to the link's redirect. Every response is checked
// against Stripe's OpenAPI spec.
func TestPaymentLinks(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		params := &stripe.PaymentLinkCreateParams{
			LineItems: []*stripe.PaymentLinkCreateLineItemParams{{Price: stripe.String("price_pro_annual"), Quantity: stripe.Int64(1)}},
			AfterCompletion: &stripe.PaymentLinkCreateAfterCompletionParams{
				Type:     stripe.String("redirect"),
				Redirect: &stripe.PaymentLinkCreateAfterCompletionRedirectParams{URL: stripe.String("https://shop.example/thanks?session={CHECKOUT_SESSION_ID}")},
			},
		}
		params.AddMetadata("campaign", "spring")
		pl, err := b.client.V1PaymentLinks.Create(ctx, params)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(pl.ID, "plink_"), pl.ID)
		require.True(t, pl.Active)
		require.Equal(t, stripe.PaymentLinkAfterCompletionTypeRedirect, pl.AfterCompletion.Type)
		require.Equal(t, "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}", pl.AfterCompletion.Redirect.URL)
		require.Equal(t, stripe.Currency("usd"), pl.Currency)
		require.Equal(t, "spring", pl.Metadata["campaign"])
		require.True(t, strings.HasPrefix(pl.URL, b.opts.BaseURL+"/b/test_"), pl.URL)
		require.NotContains(t, pl.URL, pl.ID, "the URL does not give the link's id away, as Stripe's does not")

		got, err := b.client.V1PaymentLinks.Retrieve(ctx, pl.ID, &stripe.PaymentLinkRetrieveParams{
			Params: stripe.Params{Expand: []*string{stripe.String("line_items")}}})
		require.NoError(t, err)
		require.Len(t, got.LineItems.Data, 1)
		require.Equal(t, "price_pro_annual", got.LineItems.Data[0].Price.ID)
		require.Equal(t, int64(24900), got.LineItems.Data[0].AmountTotal)
		var items []string
		for li, err := range b.client.V1PaymentLinks.ListLineItems(ctx, &stripe.PaymentLinkListLineItemsParams{PaymentLink: stripe.String(pl.ID)}) {
			require.NoError(t, err)
			items = append(items, li.Price.ID)
		}
		require.Equal(t, []string{"price_pro_annual"}, items)
		var listed []string
		for l, err := range b.client.V1PaymentLinks.List(ctx, &stripe.PaymentLinkListParams{Active: stripe.Bool(true)}) {
			require.NoError(t, err)
			listed = append(listed, l.ID)
		}
		require.Equal(t, []string{pl.ID}, listed)

		// A visit with a client reference and an email.
		status, page, _ := visit(t, pl.URL+"?client_reference_id=PU-7K3M-Q9XD&prefilled_email=mallory%40example.com")
		require.Equal(t, http.StatusSeeOther, status)
		require.True(t, strings.HasPrefix(page, b.opts.BaseURL+"/c/pay/cs_test_"), page)
		id := page[strings.LastIndex(page, "/")+1:]
		cs, err := b.client.V1CheckoutSessions.Retrieve(ctx, id, &stripe.CheckoutSessionRetrieveParams{
			Params: stripe.Params{Expand: []*string{stripe.String("line_items"), stripe.String("payment_link")}}})
		require.NoError(t, err)
		require.Equal(t, pl.ID, cs.PaymentLink.ID)
		require.Equal(t, "PU-7K3M-Q9XD", cs.ClientReferenceID)
		require.Equal(t, "spring", cs.Metadata["campaign"], "the link's metadata is copied to its sessions")
		require.Equal(t, stripe.CheckoutSessionModePayment, cs.Mode)
		require.Equal(t, int64(24900), cs.AmountTotal)
		require.Equal(t, "price_pro_annual", cs.LineItems.Data[0].Price.ID)
		require.Empty(t, cs.CustomerEmail, "a prefilled email is only a suggestion")
		_, _, body := visit(t, page)
		require.Contains(t, body, `value="mallory@example.com"`)
		require.NotContains(t, body, "readonly required", "the buyer may change a prefilled email")

		status, back, _ := payOnPage(t, page, "mallory@example.org")
		require.Equal(t, http.StatusSeeOther, status)
		require.Equal(t, "https://shop.example/thanks?session="+id, back)
		cs, err = b.client.V1CheckoutSessions.Retrieve(ctx, id, nil)
		require.NoError(t, err)
		require.Equal(t, stripe.CheckoutSessionPaymentStatusPaid, cs.PaymentStatus)
		require.Equal(t, "mallory@example.org", cs.CustomerDetails.Email)

		// Each visit is a session of its own; a reference Stripe would not
		// accept is dropped, and the link still works.
		_, again, _ := visit(t, pl.URL+"?client_reference_id=not+valid!")
		require.NotEqual(t, page, again)
		cs, err = b.client.V1CheckoutSessions.Retrieve(ctx, again[strings.LastIndex(again, "/")+1:], nil)
		require.NoError(t, err)
		require.Empty(t, cs.ClientReferenceID)
		require.Equal(t, pl.ID, cs.PaymentLink.ID)

		// With a hosted confirmation, the buyer stays on the sandbox.
		confirm, err := b.client.V1PaymentLinks.Create(ctx, &stripe.PaymentLinkCreateParams{
			LineItems: []*stripe.PaymentLinkCreateLineItemParams{{Price: stripe.String("price_pro_annual"), Quantity: stripe.Int64(1)}},
			AfterCompletion: &stripe.PaymentLinkCreateAfterCompletionParams{Type: stripe.String("hosted_confirmation"),
				HostedConfirmation: &stripe.PaymentLinkCreateAfterCompletionHostedConfirmationParams{CustomMessage: stripe.String("See you in the server.")}},
		})
		require.NoError(t, err)
		_, page, _ = visit(t, confirm.URL)
		status, _, body = payOnPage(t, page, "grace@example.com")
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "See you in the server.")
		status, _, body = payOnPage(t, page, "grace@example.com")
		require.Equal(t, http.StatusOK, status, "paying twice shows the confirmation again and charges nothing")
		require.Contains(t, body, "See you in the server.")

		status, _, body = visit(t, b.opts.BaseURL+"/b/test_nosuchlink")
		require.Equal(t, http.StatusNotFound, status)
		require.Contains(t, body, "This payment link is not valid")
	})
}

// Payment links refuse what Stripe refuses, in Stripe's shape, and create
// nothing.
func TestPaymentLinksRefuseBadRequests(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	for _, tc := range []struct {
		name, body, param string
		status            int
	}{
		{"no line items", "metadata[a]=b", "line_items", http.StatusBadRequest},
		{"no quantity", "line_items[0][price]=price_pro_annual", "line_items[0][quantity]", http.StatusBadRequest},
		{"unknown price", "line_items[0][price]=price_nope&line_items[0][quantity]=1", "line_items[0][price]", http.StatusNotFound},
		{"bad quantity", "line_items[0][price]=price_pro_annual&line_items[0][quantity]=0", "line_items[0][quantity]", http.StatusBadRequest},
		{"redirect without a URL", "line_items[0][price]=price_pro_annual&line_items[0][quantity]=1&after_completion[type]=redirect", "after_completion[redirect]", http.StatusBadRequest},
		{"not a URL", "line_items[0][price]=price_pro_annual&line_items[0][quantity]=1&after_completion[type]=redirect&after_completion[redirect][url]=nope", "after_completion[redirect][url]", http.StatusBadRequest},
		{"unknown type", "line_items[0][price]=price_pro_annual&line_items[0][quantity]=1&after_completion[type]=elsewhere", "after_completion[type]", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := b.do(t, http.MethodPost, "/v1/payment_links", tc.body, nil)
			require.Equal(t, tc.status, status, "%s", body)
			require.Contains(t, string(body), `"param": "`+tc.param+`"`)
		})
	}
	status, body := b.get(t, "/v1/payment_links/plink_nope")
	require.Equal(t, http.StatusNotFound, status, "%s", body)
	status, body = b.get(t, "/v1/payment_links")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), `"data": []`)
}
