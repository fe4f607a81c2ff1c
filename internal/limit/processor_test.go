package limit_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/stripe"
)

// callLog is what reached the processor: each API request's method and
// when it arrived.
type callLog struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	method string
	at     time.Time
}

func (l *callLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.calls = append(l.calls, call{r.Method, time.Now()})
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// most is the most calls of method within any one second.
func (l *callLog) most(method string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var at []time.Time
	for _, c := range l.calls {
		if c.method == method {
			at = append(at, c.at)
		}
	}
	most := 0
	for i := range at {
		n := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func (l *callLog) count(method string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if c.method == method {
			n++
		}
	}
	return n
}

const price = "price_budget"

// budgetSetup runs the sandbox, counting the calls that reach it, and the
// real Stripe adapter against it, held to b.
func budgetSetup(t *testing.T, b limit.Budget) (*limit.Processor, *stripe.Client, *callLog) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	sb, err := sandbox.New(context.Background(), sandbox.Options{DB: sqldbtest.Open(t, sqldb.SQLite), BaseURL: url,
		Prices: []sandbox.SeedPrice{{ID: price, ProductName: "Plan", Amount: 500, Currency: "usd"}}})
	require.NoError(t, err)
	log := &callLog{}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: log.wrap(sb.Handler())}}
	srv.Start()
	t.Cleanup(srv.Close)
	client := stripe.New(stripe.Config{SecretKey: "sk_test_budget", URL: url, Retries: -1, Timeout: 10 * time.Second})
	return limit.NewProcessor(client, b), client, log
}

func counters() (waited, refused *prometheus.CounterVec) {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waited"}, []string{"kind"}),
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused"}, []string{"kind"})
}

// Background work waits for its turn: however many calls are made at
// once, no second sees more than the budget (and its burst of a tenth of
// it), and every call is made.
func TestBudgetHoldsTheRate(t *testing.T) {
	waited, refused := counters()
	p, _, log := budgetSetup(t, limit.Budget{ReadsPerSecond: 20, WritesPerSecond: 10, Waited: waited, Refused: refused})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 90)
	start := time.Now()
	for i := range 30 {
		for range 2 {
			wg.Go(func() {
				_, err := p.Checkout(ctx, "cs_test_nope")
				if paidup.ErrorCode(err) != paidup.ENOTFOUND {
					errs <- err
				}
			})
		}
		wg.Go(func() {
			_, err := p.CreateCheckout(ctx, paidup.CheckoutRequest{Reference: "PU-BUDG-" + string(rune('A'+i%26)) + string(rune('A'+i/26)) + "00",
				Plan: paidup.Plan{ID: "p", PriceID: price, Interval: paidup.Once}, SuccessURL: "http://shop.test/ok", CancelURL: "http://shop.test/no"})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	elapsed := time.Since(start)
	require.Equal(t, 60, log.count(http.MethodGet))
	require.Equal(t, 30, log.count(http.MethodPost))
	// Within any second: the rate and its burst, with room for calls
	// granted apart that a busy machine delivers closer together (a
	// quarter of the rate). Without the budget, every call arrives within
	// the same second.
	require.LessOrEqual(t, log.most(http.MethodGet), 20+2+5, "reads within 20/s")
	require.LessOrEqual(t, log.most(http.MethodPost), 10+1+3, "writes within 10/s")
	require.GreaterOrEqual(t, elapsed, 2*time.Second, "30 writes at 10/s take (30-1)/10 s")
	require.Positive(t, testutil.ToFloat64(waited.WithLabelValues("write")))
	require.Zero(t, testutil.ToFloat64(refused.WithLabelValues("write")), "background work is never refused")
}

// A customer's call that would wait longer than CustomerWait fails at
// once, without reaching the processor; background work still gets its
// turn; and background work that cannot have its turn before its
// deadline fails at once rather than wait in vain.
func TestBudgetFailsCustomersFast(t *testing.T) {
	waited, refused := counters()
	p, _, log := budgetSetup(t, limit.Budget{ReadsPerSecond: 1, WritesPerSecond: 1, CustomerWait: 100 * time.Millisecond, Waited: waited, Refused: refused})
	customer := limit.ForCustomer(context.Background())
	_, err := p.Checkout(customer, "cs_test_1")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "the budget's one call at once goes through")

	began := time.Now()
	_, err = p.Checkout(customer, "cs_test_2")
	require.ErrorIs(t, err, limit.ErrBusy)
	require.Equal(t, paidup.EUNAVAILABLE, paidup.ErrorCode(err))
	require.Less(t, time.Since(began), 50*time.Millisecond, "refused at once, not after waiting")
	require.Equal(t, 1, log.count(http.MethodGet), "the refused call never reached the processor")
	require.Equal(t, 1.0, testutil.ToFloat64(refused.WithLabelValues("read")))

	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = p.Checkout(short, "cs_test_3")
	require.ErrorIs(t, err, limit.ErrBusy, "its turn is a second away, past its deadline")

	began = time.Now()
	_, err = p.Checkout(context.Background(), "cs_test_4")
	require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
	require.Greater(t, time.Since(began), 700*time.Millisecond, "background work waited for its turn")
	require.Equal(t, 2, log.count(http.MethodGet))
	require.Equal(t, 1.0, testutil.ToFloat64(waited.WithLabelValues("read")))

	cancelled, cancelNow := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancelNow() }()
	_, err = p.Checkout(cancelled, "cs_test_5")
	require.True(t, errors.Is(err, context.Canceled), "a wait ends with its context: %v", err)
}

// A listing is one call per page of 100: each page waits for its turn.
func TestBudgetCountsEveryPage(t *testing.T) {
	p, client, log := budgetSetup(t, limit.Budget{ReadsPerSecond: 2})
	ctx := context.Background()
	for i := range 250 {
		_, err := client.CreateCheckout(ctx, paidup.CheckoutRequest{Reference: "PU-PAGE-" + string(rune('A'+i%26)) + string(rune('A'+i/26%26)) + "00",
			Plan: paidup.Plan{ID: "p", PriceID: price, Interval: paidup.Once}, SuccessURL: "http://shop.test/ok", CancelURL: "http://shop.test/no"})
		require.NoError(t, err)
	}
	before := log.count(http.MethodGet)
	began := time.Now()
	n := 0
	require.NoError(t, p.ListCheckouts(ctx, paidup.Created{Since: time.Now().Add(-time.Hour)}, func(paidup.Checkout) error { n++; return nil }))
	require.Equal(t, 250, n)
	require.Equal(t, 3, log.count(http.MethodGet)-before, "three pages")
	require.GreaterOrEqual(t, time.Since(began), 900*time.Millisecond, "three turns at 2/s: the second and third wait half a second each")
}

// Without a budget nothing waits.
func TestNoBudgetIsNoLimit(t *testing.T) {
	p, _, log := budgetSetup(t, limit.Budget{})
	customer := limit.ForCustomer(context.Background())
	for range 50 {
		_, err := p.Checkout(customer, "cs_test_nope")
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
	}
	require.Equal(t, 50, log.count(http.MethodGet))
}
