package stripe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/stripe"
)

var proAnnual = paidup.Plan{ID: "pro-annual", Name: "Pro, one year", PriceID: "price_pro_annual", Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once}

// sandboxURL runs a sandbox processor for the adapter to talk to.
func sandboxURL(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sandbox.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + l.Addr().String()
	sb, err := sandbox.New(ctx, sandbox.Options{DB: db, BaseURL: base, Prices: []sandbox.SeedPrice{{ID: proAnnual.PriceID, ProductName: proAnnual.Name, Amount: 24900, Currency: "usd"}}})
	require.NoError(t, err)
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: sb.Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}

func request(ref string) paidup.CheckoutRequest {
	return paidup.CheckoutRequest{
		Reference: ref, Plan: proAnnual, Email: "ada@example.com",
		SuccessURL: "http://127.0.0.1:8080/checkout/" + ref + "?checkout={CHECKOUT_ID}",
		CancelURL:  "http://127.0.0.1:8080/buy/pro-annual",
	}
}

func TestCheckoutAgainstSandbox(t *testing.T) {
	base := sandboxURL(t)
	c := stripe.New(stripe.Config{SecretKey: "sk_test_x", URL: base})
	ctx := context.Background()

	co, err := c.CreateCheckout(ctx, request("PU-AAAA-0001"))
	require.NoError(t, err)
	require.Equal(t, paidup.CheckoutOpen, co.Status)
	require.Equal(t, "PU-AAAA-0001", co.Reference)
	require.Equal(t, proAnnual.Amount, co.Amount)
	require.NotEmpty(t, co.URL)

	again, err := c.CreateCheckout(ctx, request("PU-AAAA-0001"))
	require.NoError(t, err)
	require.Equal(t, co.ID, again.ID, "the reference is the idempotency key: one checkout per attempt")

	resp, err := http.Post(base+"/v1/test_helpers/checkout/sessions/"+co.ID+"/pay?payment_method=pm_card_visa", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the sandbox wants a key")
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/test_helpers/checkout/sessions/"+co.ID+"/pay", nil)
	req.URL.RawQuery = "payment_method=pm_card_visa"
	req.Header.Set("Authorization", "Bearer sk_test_x")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	paid, err := c.Checkout(ctx, co.ID)
	require.NoError(t, err)
	require.True(t, paid.Paid)
	require.Equal(t, paidup.CheckoutComplete, paid.Status)
	require.NotEmpty(t, paid.PaymentID)
	require.NotEmpty(t, paid.CustomerID)
	require.Equal(t, "ada@example.com", paid.Email)
	require.Equal(t, []string{proAnnual.PriceID}, paid.PriceIDs)

	_, err = c.Checkout(ctx, "cs_test_missing")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
}

// When the processor is down, slow or failing, the adapter says so as
// EUNAVAILABLE — try again later — and never as a refusal.
func TestProcessorFailures(t *testing.T) {
	ctx := context.Background()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "http://" + closed.Addr().String()
	closed.Close()

	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	calls := 0
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":{"type":"api_error","message":"boom"}}`))
	}))
	t.Cleanup(broken.Close)

	for name, url := range map[string]string{"down": closedURL, "timeout": hang.URL, "5xx": broken.URL} {
		t.Run(name, func(t *testing.T) {
			c := stripe.New(stripe.Config{SecretKey: "sk_test_x", URL: url, Timeout: 200 * time.Millisecond, Retries: -1})
			_, err := c.CreateCheckout(ctx, request("PU-AAAA-0003"))
			require.Equal(t, paidup.EUNAVAILABLE, paidup.ErrorCode(err), "%v", err)
			_, err = c.Checkout(ctx, "cs_test_1")
			require.Equal(t, paidup.EUNAVAILABLE, paidup.ErrorCode(err), "%v", err)
		})
	}
	require.Equal(t, 2, calls, "with retries off, one call each")
}
