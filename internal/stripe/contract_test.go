package stripe_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/stripe"
)

// startStripeMock builds Stripe's own API mock, stripe-mock, at the version
// go.mod pins, and runs it on loopback. It validates every request against
// Stripe's OpenAPI spec, so a call it accepts is a call Stripe accepts.
func startStripeMock(t *testing.T) string {
	t.Helper()
	root := moduleRoot(t)
	bin := filepath.Join(t.TempDir(), "stripe-mock")
	build := exec.Command("go", "build", "-o", bin, "github.com/stripe/stripe-mock")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building stripe-mock (go.mod pins it as a tool; is the module proxy reachable?): %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("stripe-mock did not start")
	}
	return ""
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found")
		dir = parent
	}
}

// Every call the adapter makes is valid Stripe API, as Stripe's own mock
// judges it: parameters, types and paths.
func TestAdapterRequestsAreValidStripeAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds stripe-mock; skipped with -short")
	}
	url := startStripeMock(t)
	c := stripe.New(stripe.Config{SecretKey: "sk_test_123", URL: url, Retries: -1})
	ctx := context.Background()
	plan := paidup.Plan{ID: "pro-annual", PriceID: "price_1", Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once}

	co, err := c.CreateCheckout(ctx, paidup.CheckoutRequest{
		Reference: "PU-4F7K-Q9XD", Plan: plan, Email: "ada@example.com",
		SuccessURL: "http://127.0.0.1:8080/checkout/PU-4F7K-Q9XD?checkout={CHECKOUT_ID}",
		CancelURL:  "http://127.0.0.1:8080/buy/pro-annual", ExpiresAt: time.Now().Add(time.Hour),
	})
	require.NoError(t, err, "stripe-mock refused the checkout session the adapter creates")
	require.NotEmpty(t, co.ID)

	_, err = c.CreateCheckout(ctx, paidup.CheckoutRequest{
		Reference: "PU-4F7K-Q9XE", Plan: plan, CustomerID: "cus_123",
		SuccessURL: "http://127.0.0.1:8080/ok", CancelURL: "http://127.0.0.1:8080/no",
	})
	require.NoError(t, err, "with an existing customer")

	_, err = c.Checkout(ctx, co.ID)
	require.NoError(t, err, "stripe-mock refused reading a checkout session")

	monthly := plan
	monthly.Interval = paidup.Monthly
	_, err = c.CreateCheckout(ctx, paidup.CheckoutRequest{
		Reference: "PU-4F7K-Q9XF", Plan: monthly, Email: "ada@example.com",
		SuccessURL: "http://127.0.0.1:8080/ok", CancelURL: "http://127.0.0.1:8080/no",
	})
	require.NoError(t, err, "a subscription-mode checkout session")
	_, err = c.CreateCheckout(ctx, paidup.CheckoutRequest{
		Reference: "PU-4F7K-Q9XG", Plan: monthly, CustomerID: "cus_123",
		SuccessURL: "http://127.0.0.1:8080/ok", CancelURL: "http://127.0.0.1:8080/no",
	})
	require.NoError(t, err, "a subscription-mode checkout session for an existing customer")

	since := paidup.Created{Since: time.Now().Add(-time.Hour)}
	_, err = c.Subscription(ctx, "sub_123")
	require.NoError(t, err, "reading a subscription")
	_, err = c.CancelSubscription(ctx, "sub_123")
	require.NoError(t, err, "cancelling a subscription")
	_, err = c.SetCancelAtPeriodEnd(ctx, "sub_123", true)
	require.NoError(t, err, "cancelling a subscription at its period's end")
	_, err = c.SetCancelAtPeriodEnd(ctx, "sub_123", false)
	require.NoError(t, err, "resuming a subscription")
	_, err = c.Invoice(ctx, "in_123")
	require.NoError(t, err, "reading an invoice")
	require.NoError(t, c.ListInvoices(ctx, since, func(paidup.ProcessorInvoice) error { return nil }), "listing invoices")
	_, err = c.Dispute(ctx, "dp_123")
	require.NoError(t, err, "reading a dispute")
	require.NoError(t, c.ListDisputes(ctx, since, func(paidup.ProcessorDispute) error { return nil }), "listing disputes")
	_, err = c.Refunds(ctx, "pi_123")
	require.NoError(t, err, "reading a payment's refunds")
	require.NoError(t, c.ListRefunds(ctx, since, func(paidup.Refund, paidup.PaymentRefunds) error { return nil }), "listing refunds")
	_, err = c.RefundPayment(ctx, "pi_123", paidup.RefundDuplicate, "duplicate-pi_123")
	require.NoError(t, err, "refunding a duplicate purchase")
	_, err = c.CheckoutForPayment(ctx, "pi_123")
	require.NoError(t, err, "finding a payment's checkout session")
	_, err = c.PortalURL(ctx, "cus_123", "http://127.0.0.1:8080/account")
	require.NoError(t, err, "opening the billing portal")
}
