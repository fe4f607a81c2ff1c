package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// newCustomer creates a customer through stripe-go and returns its id and
// the id of its customer.created event.
func (b *bundle) newCustomer(t *testing.T, email string) (customer, event string) {
	t.Helper()
	cu, err := b.client.V1Customers.Create(context.Background(), &stripe.CustomerCreateParams{Email: stripe.String(email)})
	require.NoError(t, err)
	for _, ev := range b.events(t, "type=customer.created") {
		if ev.Data.Object.ID == cu.ID {
			return cu.ID, ev.ID
		}
	}
	t.Fatalf("no customer.created event for %s", cu.ID)
	return "", ""
}

// objectOf returns the id of the object a delivered event is about.
func objectOf(t *testing.T, d delivery) string {
	t.Helper()
	var ev apiEvent
	require.NoError(t, json.Unmarshal(d.Body, &ev))
	return ev.Data.Object.ID
}

func hitStatuses(hits []hit) []int {
	var out []int
	for _, h := range hits {
		out = append(out, h.Status)
	}
	return out
}

func attemptStatuses(d deliveryRecord) []int {
	var out []int
	for _, a := range d.Attempts {
		out = append(out, a.Status)
	}
	return out
}

// waitDelivery waits until the only delivery of an event reaches status.
func (b *bundle) waitDelivery(t *testing.T, event, status string) deliveryRecord {
	t.Helper()
	var last []deliveryRecord
	ok := assertEventually(func() bool {
		last = b.deliveries(t, "event="+event)
		return len(last) == 1 && last[0].Status == status
	})
	require.True(t, ok, "delivery of %s never became %s: %+v", event, status, last)
	return last[0]
}

// assertEventually polls cond every 10ms for up to 10s.
func assertEventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// A receiver that fails twice, then answers 200, gets the event once; the
// delivery shows every attempt, spaced by the retry schedule, and the event
// stops being listed as undelivered.
func TestWebhookRetriesWithBackoff(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{retry: []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}})
		b.settle(t)
		b.hooks.failNext(500, 500)
		_, ev := b.newCustomer(t, "retry@example.com")

		d := b.waitDelivery(t, ev, "succeeded")
		require.Equal(t, []int{500, 500, 200}, attemptStatuses(d))
		require.GreaterOrEqual(t, d.Attempts[1].At.Sub(d.Attempts[0].At), 20*time.Millisecond, "the first retry waits the first delay")
		require.GreaterOrEqual(t, d.Attempts[2].At.Sub(d.Attempts[1].At), 40*time.Millisecond, "the second retry waits the second delay")
		require.Equal(t, []int{500, 500, 200}, hitStatuses(b.hooks.hitsFor(ev)), "the receiver saw every attempt")
		require.Len(t, b.hooks.received("customer.created"), 1, "exactly one successful delivery")

		require.Eventually(t, func() bool { return b.event(t, ev).PendingWebhooks == 0 }, 5*time.Second, 10*time.Millisecond)
		require.NotContains(t, b.undelivered(t), ev)
	})
}

// A receiver that always fails gets len(schedule)+1 attempts; then the
// delivery has failed and the event stays undelivered, until a manual retry
// succeeds.
func TestWebhookGivesUp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		schedule := []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
		b := setup(t, engine, setupOpts{retry: schedule})
		b.settle(t)
		b.hooks.failNext(500, 503, 500, 502)
		_, ev := b.newCustomer(t, "never@example.com")

		d := b.waitDelivery(t, ev, "failed")
		require.Equal(t, []int{500, 503, 500, 502}, attemptStatuses(d), "one attempt, then one per retry delay")
		require.Len(t, b.hooks.hitsFor(ev), len(schedule)+1)
		require.Empty(t, b.hooks.received("customer.created"))
		require.EqualValues(t, 1, b.event(t, ev).PendingWebhooks)
		require.Contains(t, b.undelivered(t), ev, "a failed delivery leaves the event undelivered")

		status, body := b.control(t, http.MethodPost, "/_sandbox/deliveries/"+d.ID+"/retry", "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		d = b.waitDelivery(t, ev, "succeeded")
		require.Len(t, d.Attempts, len(schedule)+2)
		require.Len(t, b.hooks.received("customer.created"), 1)
		require.Eventually(t, func() bool { return !slices.Contains(b.undelivered(t), ev) }, 5*time.Second, 10*time.Millisecond)
	})
}

// An endpoint slower than the client's timeout is a failed attempt, retried.
func TestWebhookTimeoutIsFailedAttempt(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		client := &http.Client{
			Timeout:       500 * time.Millisecond,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		b := setup(t, engine, setupOpts{client: client})
		b.settle(t)
		b.hooks.stallNext(5 * time.Second)
		_, ev := b.newCustomer(t, "slow@example.com")

		d := b.waitDelivery(t, ev, "succeeded")
		require.Len(t, d.Attempts, 2)
		require.Zero(t, d.Attempts[0].Status, "no response came")
		require.NotEmpty(t, d.Attempts[0].Error, "the attempt says why it failed")
		require.Equal(t, 200, d.Attempts[1].Status)
		hits := b.hooks.hitsFor(ev)
		require.Len(t, hits, 2)
		require.True(t, hits[0].Abandoned, "the sandbox hung up on the slow endpoint")
		require.Len(t, b.hooks.received("customer.created"), 1)
	})
}

// A redirect is a failed attempt: Stripe does not follow redirects.
func TestWebhookRedirectIsFailure(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		b.settle(t)
		b.hooks.failNext(http.StatusFound)
		_, ev := b.newCustomer(t, "moved@example.com")

		d := b.waitDelivery(t, ev, "succeeded")
		require.Equal(t, []int{http.StatusFound, 200}, attemptStatuses(d))
		b.hooks.mu.Lock()
		followed := b.hooks.followed
		b.hooks.mu.Unlock()
		require.Zero(t, followed, "the redirect was not followed")
		require.Len(t, b.hooks.received("customer.created"), 1)
	})
}

// A disabled endpoint gets nothing, even what was queued for it before.
func TestDisabledEndpointGetsNothing(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{faults: []sandbox.Fault{{Action: sandbox.FaultDelay, Event: "customer.created", Delay: sandbox.Duration(200 * time.Millisecond)}}})
	ctx := context.Background()
	var endpoint string
	for we, err := range b.client.V1WebhookEndpoints.List(ctx, nil) {
		require.NoError(t, err)
		endpoint = we.ID
	}
	_, err := b.client.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("held@example.com")})
	require.NoError(t, err)
	_, err = b.client.V1WebhookEndpoints.Update(ctx, endpoint, &stripe.WebhookEndpointUpdateParams{Disabled: stripe.Bool(true)})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, d := range b.deliveries(t, "") {
			if d.Type == "customer.created" && d.Status == "failed" {
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond)
	require.NotContains(t, b.hooks.types(), "customer.created")
}
