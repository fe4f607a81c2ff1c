package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how old a signed webhook may be, as Stripe's
// libraries allow.
const DefaultTolerance = 300 * time.Second

// Reasons a webhook is refused. They are counted and logged; the sender
// gets a plain 400.
var (
	ErrNoSignature  = errors.New("no Stripe-Signature header")
	ErrBadHeader    = errors.New("malformed Stripe-Signature header")
	ErrStale        = errors.New("signature timestamp outside the tolerance")
	ErrBadSignature = errors.New("no signature matches any configured secret")
	ErrBadPayload   = errors.New("payload is not a Stripe event")
	ErrLivemode     = errors.New("the event's mode is not the key's")
)

// Verifier checks that webhooks come from Stripe: signed with one of the
// endpoint's secrets (several while rotating), recently, and of paidup's
// mode.
type Verifier struct {
	Secrets   []string
	Tolerance time.Duration // defaults to DefaultTolerance
	// Livemode is the mode of paidup's key (sk_live_/rk_live_): an event
	// of the other mode — a live payment at a test shop, a test one at a
	// live shop — is refused, whoever signed it.
	Livemode bool
}

// Event is a verified Stripe event: what paidup needs to store it. The
// object it is about is in the payload, as it was when the event happened.
type Event struct {
	ID         string
	Type       string
	Created    time.Time
	APIVersion string
	Livemode   bool
	ObjectType string
	ObjectID   string
}

// Verify checks payload against its Stripe-Signature header at time now and
// decodes the event.
func (v Verifier) Verify(payload []byte, header string, now time.Time) (Event, error) {
	if header == "" {
		return Event{}, ErrNoSignature
	}
	sig, err := ParseSignatureHeader(header)
	if err != nil {
		return Event{}, err
	}
	tol := v.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	if d := now.Sub(sig.Timestamp); d > tol || d < -tol {
		return Event{}, fmt.Errorf("%w: signed %s ago", ErrStale, d.Round(time.Second))
	}
	if !v.matches(payload, sig.signedTS, sig.V1) {
		return Event{}, ErrBadSignature
	}
	ev, err := decodeEvent(payload)
	if err == nil && ev.Livemode != v.Livemode {
		return Event{}, fmt.Errorf("%w: a %s event at a %s-mode paidup", ErrLivemode, modeName(ev.Livemode), modeName(v.Livemode))
	}
	return ev, err
}

func modeName(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

func (v Verifier) matches(payload []byte, ts string, sigs [][]byte) bool {
	ok := false
	for _, secret := range v.Secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts))
		mac.Write([]byte("."))
		mac.Write(payload)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			// Compare against every candidate so that timing does not
			// reveal which secret or signature matched.
			if hmac.Equal(sig, want) {
				ok = true
			}
		}
	}
	return ok
}

// Signature is a parsed Stripe-Signature header.
type Signature struct {
	Timestamp time.Time
	V1        [][]byte // the v1 (HMAC-SHA256) signatures, at most 8
	signedTS  string   // the timestamp as sent, which the HMAC covers
}

// ParseSignatureHeader reads a Stripe-Signature header,
// "t=1700000000,v1=hex,v1=hex,v0=…": the timestamp and every v1 signature.
// Other schemes are ignored, as Stripe's libraries do.
func ParseSignatureHeader(header string) (Signature, error) {
	var sig Signature
	if len(header) > 4096 {
		return sig, fmt.Errorf("%w: too long", ErrBadHeader)
	}
	for part := range strings.SplitSeq(header, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sig, fmt.Errorf("%w: %q has no '='", ErrBadHeader, truncate(part))
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 || sig.signedTS != "" {
				return sig, fmt.Errorf("%w: bad timestamp", ErrBadHeader)
			}
			sig.Timestamp, sig.signedTS = time.Unix(n, 0), val
		case "v1":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != sha256.Size {
				continue // not a signature anyone could have made
			}
			if len(sig.V1) < 8 {
				sig.V1 = append(sig.V1, b)
			}
		}
	}
	if sig.signedTS == "" {
		return sig, fmt.Errorf("%w: no timestamp", ErrBadHeader)
	}
	if len(sig.V1) == 0 {
		return sig, fmt.Errorf("%w: no v1 signature", ErrBadHeader)
	}
	return sig, nil
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// decodeEvent reads the fields of an event paidup uses, in one pass over
// the payload: webhooks are many, and the payload is stored as received.
func decodeEvent(payload []byte) (Event, error) {
	var raw struct {
		ID         string `json:"id"`
		Object     string `json:"object"`
		Type       string `json:"type"`
		Created    int64  `json:"created"`
		APIVersion string `json:"api_version"`
		Livemode   bool   `json:"livemode"`
		Data       struct {
			Object *struct {
				ID     string `json:"id"`
				Object string `json:"object"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && strings.HasPrefix(te.Field, "data.object") {
			return Event{}, fmt.Errorf("%w: data.object is not an object", ErrBadPayload)
		}
		return Event{}, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	obj := raw.Data.Object
	if raw.Object != "event" || !strings.HasPrefix(raw.ID, "evt_") || raw.Type == "" || obj == nil {
		return Event{}, fmt.Errorf("%w: missing id, type or data.object", ErrBadPayload)
	}
	if obj.Object == "" {
		return Event{}, fmt.Errorf("%w: data.object is not an object", ErrBadPayload)
	}
	return Event{
		ID: raw.ID, Type: raw.Type, Created: time.Unix(raw.Created, 0).UTC(), APIVersion: raw.APIVersion,
		Livemode: raw.Livemode, ObjectType: obj.Object, ObjectID: obj.ID,
	}, nil
}
