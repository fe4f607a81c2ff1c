package stripe_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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

func signed(t testing.TB, secret string, at time.Time) string {
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

// An event whose mode is not the key's is refused, however well signed: a
// test-mode paidup takes no live events, a live one no test events.
func TestVerifyRefusesTheOtherMode(t *testing.T) {
	now := time.Unix(1700000100, 0)
	live := strings.Replace(payload, `"livemode":false`, `"livemode":true`, 1)
	liveSig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(live), Secret: "whsec_right", Timestamp: now}).Header
	testMode := stripe.Verifier{Secrets: []string{"whsec_right"}}
	liveMode := stripe.Verifier{Secrets: []string{"whsec_right"}, Livemode: true}

	_, err := testMode.Verify([]byte(live), liveSig, now)
	require.ErrorIs(t, err, stripe.ErrLivemode)
	require.ErrorContains(t, err, "a live event at a test-mode paidup")
	_, err = liveMode.Verify([]byte(payload), signed(t, "whsec_right", now), now)
	require.ErrorIs(t, err, stripe.ErrLivemode)

	ev, err := liveMode.Verify([]byte(live), liveSig, now)
	require.NoError(t, err)
	require.True(t, ev.Livemode)
	ev, err = testMode.Verify([]byte(payload), signed(t, "whsec_right", now), now)
	require.NoError(t, err)
	require.False(t, ev.Livemode)
}

// The pages a customer is sent to from a form: Stripe's own hosts, or the
// origin of a Stripe-compatible API such as the sandbox.
func TestPageOrigins(t *testing.T) {
	require.Equal(t, []string{"https://checkout.stripe.com", "https://billing.stripe.com"}, stripe.New(stripe.Config{SecretKey: "sk_test_x"}).PageOrigins())
	require.Equal(t, []string{"http://127.0.0.1:8081"}, stripe.New(stripe.Config{SecretKey: "sk_test_x", URL: "http://127.0.0.1:8081/"}).PageOrigins())
}

// FuzzVerify: no envelope makes Verify panic; whatever it accepts is an
// event paidup can store (an evt_ id, a type, the type of its object) of
// the verifier's mode; and it accepts nothing whose header lacks an
// HMAC-SHA256 of the exact payload by the secret, checked here with the
// standard library alone. With sign set, the fuzzer's payload is signed
// properly, so that it explores the decoding behind the signature.
func FuzzVerify(f *testing.F) {
	const secret = "whsec_fuzz"
	now := time.Unix(1700000100, 0)
	for _, p := range []string{
		payload,
		strings.Replace(payload, `"livemode":false`, `"livemode":true`, 1),
		`{"id":"evt_1","object":"event","type":"x","data":{"object":{"object":"balance"}}}`,
		`{"id":"evt_1","object":"event","type":"x","data":{"object":"cs_1"}}`,
		`{"id":"evt_1","object":"event","type":"x","data":{"object":{"id":"cs_1"}}}`,
		`{"id":"evt_1","object":"event","type":"","data":{"object":{"id":"cs_1","object":"checkout.session"}}}`,
		`{"id":"cs_1","object":"checkout.session"}`,
		`{"id":"evt_1","object":"event","type":"x","created":"soon","data":{"object":{"object":"a"}}}`,
		`[]`, `null`, ``, `{"id":"evt_1","id":"evt_2","object":"event","type":"x","data":{"object":{"object":"a"}}}`,
	} {
		f.Add([]byte(p), "", true)
		f.Add([]byte(p), signed(f, secret, now), false)
	}
	f.Add([]byte(payload), "t=1700000100,v1="+strings.Repeat("0", 64), false)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now}).Header
		}
		v := stripe.Verifier{Secrets: []string{secret}}
		ev, err := v.Verify(body, header, now)
		if err != nil {
			for _, known := range []error{stripe.ErrNoSignature, stripe.ErrBadHeader, stripe.ErrStale, stripe.ErrBadSignature, stripe.ErrBadPayload, stripe.ErrLivemode} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("refused for no known reason: %v", err)
		}
		require.True(t, strings.HasPrefix(ev.ID, "evt_"), "id %q", ev.ID)
		require.NotEmpty(t, ev.Type)
		require.NotEmpty(t, ev.ObjectType)
		require.False(t, ev.Livemode)
		require.True(t, signedBy(header, body, secret), "accepted without a valid signature: %q", header)
	})
}

// signedBy reports whether a Stripe-Signature header carries a v1
// signature of payload by secret at its timestamp.
func signedBy(header string, payload []byte, secret string) bool {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(payload)
	want := hex.EncodeToString(mac.Sum(nil))
	for _, s := range sigs {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}
