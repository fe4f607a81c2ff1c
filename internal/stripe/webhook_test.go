package stripe_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/paidup/paidup/internal/stripe"
)

const payload = `{"id":"evt_1","object":"event","type":"checkout.session.completed","created":1700000000,"api_version":"2026-02-25.clover","livemode":false,"data":{"object":{"id":"cs_test_1","object":"checkout.session"}}}`

func signed(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: secret, Timestamp: at})
	return sp.Header
}

func TestVerifyAcceptsStripeSignatures(t *testing.T) {
	now := time.Unix(1700000100, 0)
	v := stripe.Verifier{Secrets: []string{"whsec_old", "whsec_new"}}
	for _, secret := range v.Secrets {
		ev, err := v.Verify([]byte(payload), signed(t, secret, now.Add(-time.Minute)), now)
		require.NoError(t, err, "a signature by any configured secret is accepted (rotation)")
		require.Equal(t, "evt_1", ev.ID)
		require.Equal(t, "checkout.session.completed", ev.Type)
		require.Equal(t, "checkout.session", ev.ObjectType)
		require.Equal(t, "cs_test_1", ev.ObjectID)
	}
	// Several signatures in one header (Stripe signs with every active
	// secret during a roll), in either order.
	a := signed(t, "whsec_other", now)
	b := signed(t, "whsec_new", now)
	both := a + ",v1=" + strings.SplitN(b, "v1=", 2)[1]
	_, err := v.Verify([]byte(payload), both, now)
	require.NoError(t, err)
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1700000100, 0)
	v := stripe.Verifier{Secrets: []string{"whsec_right"}}
	good := signed(t, "whsec_right", now)
	tests := []struct {
		name    string
		payload string
		header  string
		want    error
	}{
		{"no header", payload, "", stripe.ErrNoSignature},
		{"forged", payload, signed(t, "whsec_wrong", now), stripe.ErrBadSignature},
		{"tampered body", strings.Replace(payload, "cs_test_1", "cs_test_2", 1), good, stripe.ErrBadSignature},
		{"truncated body", payload[:len(payload)-10], good, stripe.ErrBadSignature},
		{"stale", payload, signed(t, "whsec_right", now.Add(-301*time.Second)), stripe.ErrStale},
		{"from the future", payload, signed(t, "whsec_right", now.Add(301*time.Second)), stripe.ErrStale},
		{"replayed timestamp", payload, strings.Replace(good, fmt.Sprintf("t=%d", now.Unix()), fmt.Sprintf("t=%d", now.Unix()-1), 1), stripe.ErrBadSignature},
		{"no v1", payload, fmt.Sprintf("t=%d,v0=abc", now.Unix()), stripe.ErrBadHeader},
		{"no timestamp", payload, "v1=" + strings.Repeat("ab", 32), stripe.ErrBadHeader},
		{"garbage", payload, "hello", stripe.ErrBadHeader},
		{"two timestamps", payload, good + ",t=1", stripe.ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify([]byte(tt.payload), tt.header, now)
			require.ErrorIs(t, err, tt.want)
		})
	}
	notEvent := `{"id":"cs_1","object":"checkout.session"}`
	h := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(notEvent), Secret: "whsec_right", Timestamp: now}).Header
	_, err := v.Verify([]byte(notEvent), h, now)
	require.ErrorIs(t, err, stripe.ErrBadPayload, "a signed body that is not an event is refused")
}

// FuzzParseSignatureHeader: no header makes the parser panic, and whatever
// it accepts has a timestamp and at most 8 well-formed signatures.
func FuzzParseSignatureHeader(f *testing.F) {
	f.Add("t=1700000000,v1=" + strings.Repeat("ab", 32))
	f.Add("t=1,v1=00,v0=zz,v1=" + strings.Repeat("0", 64))
	f.Add(",,,=,t=,v1=")
	f.Add("t=99999999999999999999999")
	f.Fuzz(func(t *testing.T, header string) {
		sig, err := stripe.ParseSignatureHeader(header)
		if err != nil {
			require.True(t, errors.Is(err, stripe.ErrBadHeader))
			return
		}
		require.Positive(t, sig.Timestamp.Unix())
		require.NotEmpty(t, sig.V1)
		require.LessOrEqual(t, len(sig.V1), 8)
		for _, s := range sig.V1 {
			require.Len(t, s, 32)
		}
	})
}
