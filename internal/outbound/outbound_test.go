package outbound_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/outbound"
)

// receiver is the operator's app: it verifies each message with the
// Standard Webhooks project's own library, with the secret it holds.
type receiver struct {
	mu       sync.Mutex
	verifier *standardwebhooks.Webhook
	status   []int // answers to give, in turn; then 204
	header   http.Header
	got      []string // the webhook-ids verified
	refused  int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if err := rc.verifier.Verify(body, r.Header); err != nil {
		rc.refused++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if len(rc.status) > 0 {
		s := rc.status[0]
		rc.status = rc.status[1:]
		for k, v := range rc.header {
			w.Header()[k] = v
		}
		w.WriteHeader(s)
		return
	}
	rc.got = append(rc.got, r.Header.Get("webhook-id"))
	w.WriteHeader(http.StatusNoContent)
}

func receive(t *testing.T, secret string) (*receiver, string) {
	t.Helper()
	v, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	rc := &receiver{verifier: v}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func secrets(t *testing.T, s ...string) []outbound.Secret {
	t.Helper()
	var out []outbound.Secret
	for _, x := range s {
		sec, err := outbound.ParseSecret(x)
		require.NoError(t, err)
		out = append(out, sec)
	}
	return out
}

var msg = outbound.Message{ID: "msg_2Kq", Type: outbound.EventGrantStarted, Timestamp: time.Now(),
	Data: map[string]any{"customer": "cu_1", "tier": "pro", "until": "2027-12-07T00:00:00Z"}}

// A message signed by paidup is verified by the Standard Webhooks
// library; during a rotation, a receiver holding either secret accepts
// it; one holding another secret refuses it.
func TestSignedAsStandardWebhooksVerify(t *testing.T) {
	old, next := outbound.NewSecret(), outbound.NewSecret()
	ctx := context.Background()
	for _, held := range []string{old, next} {
		rc, url := receive(t, held)
		out := outbound.Attempt(ctx, http.DefaultClient, url, msg, secrets(t, old, next), 0, time.Now())
		require.True(t, out.Delivered, "%+v", out)
		require.Equal(t, []string{"msg_2Kq"}, rc.got)
	}
	rc, url := receive(t, outbound.NewSecret())
	out := outbound.Attempt(ctx, http.DefaultClient, url, msg, secrets(t, old), 0, time.Now())
	require.False(t, out.Delivered)
	require.Equal(t, 1, rc.refused)
	require.Equal(t, 5*time.Second, out.Retry)

	// A timestamp an hour old is refused by the library, as it should be.
	rc, url = receive(t, old)
	out = outbound.Attempt(ctx, http.DefaultClient, url, msg, secrets(t, old), 0, time.Now().Add(-time.Hour))
	require.False(t, out.Delivered)
	require.Equal(t, 1, rc.refused)
}

// Failures are retried on Svix's schedule with the same webhook-id; a
// longer Retry-After is honoured; a 410 disables; after the last attempt
// the message is dead.
func TestRetries(t *testing.T) {
	secret := outbound.NewSecret()
	ctx := context.Background()
	rc, url := receive(t, secret)
	rc.status = []int{500, 503, 500}
	rc.header = http.Header{"Retry-After": {"600"}}
	now := time.Now()
	var waits []time.Duration
	for n := 0; ; n++ {
		out := outbound.Attempt(ctx, http.DefaultClient, url, msg, secrets(t, secret), n, now)
		if out.Delivered {
			break
		}
		waits = append(waits, out.Retry)
	}
	require.Equal(t, []time.Duration{10 * time.Minute, 10 * time.Minute, 30 * time.Minute}, waits,
		"5 s and 5 min are overruled by Retry-After: 600; 30 min is longer")
	require.Equal(t, []string{"msg_2Kq"}, rc.got, "delivered once, under its one id")

	rc.status, rc.header = []int{410}, nil
	out := outbound.Attempt(ctx, http.DefaultClient, url, msg, secrets(t, secret), 0, now)
	require.True(t, out.Gone)

	rc.status = []int{500}
	out = outbound.Attempt(ctx, http.DefaultClient, url, msg, secrets(t, secret), len(outbound.Schedule)-1, now)
	require.True(t, out.Dead)
	require.Len(t, outbound.Schedule, 8)
}

func TestParseSecret(t *testing.T) {
	for _, bad := range []string{"", "whsec_", "whsec_!!!", "c2VjcmV0", "whsec_c2hvcnQ="} {
		_, err := outbound.ParseSecret(bad)
		require.Error(t, err, bad)
	}
	_, err := outbound.ParseSecret(outbound.NewSecret())
	require.NoError(t, err)
}
