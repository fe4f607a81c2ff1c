// Package outbound sends paidup's events to the operator's own app as
// webhooks in the Standard Webhooks format (https://www.standardwebhooks.com):
// each message signed with the endpoint's whsec_ secrets (two while one
// is rotated), its webhook-id the same on every attempt, retried on
// Svix's schedule, honouring Retry-After, and a 410 ending the endpoint.
package outbound

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The events paidup sends.
const (
	EventAccessChanged = "access.changed"
	EventGrantStarted  = "grant.started"
	EventGrantEnded    = "grant.ended"
	EventBlockAdded    = "block.added"
	EventBlockLifted   = "block.lifted"
	EventCaseOpened    = "case.opened"
	EventCaseResolved  = "case.resolved"
)

// Message is one event for an endpoint, as Standard Webhooks shapes a
// payload: its type, when it happened, and its data.
type Message struct {
	// ID is the webhook-id: the same on every attempt, so that the
	// receiver takes it once.
	ID        string
	Type      string
	Timestamp time.Time
	Data      any
}

// Payload is the message's body.
func (m Message) Payload() ([]byte, error) {
	return json.Marshal(struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      any    `json:"data"`
	}{m.Type, m.Timestamp.UTC().Format(time.RFC3339Nano), m.Data})
}

// Secret is an endpoint's signing secret: "whsec_" and base64 of 24 to 64
// random bytes.
type Secret struct{ key []byte }

const secretPrefix = "whsec_"

// ParseSecret reads a whsec_ secret.
func ParseSecret(s string) (Secret, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), secretPrefix))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(s), secretPrefix) || len(key) < 24 || len(key) > 64 {
		return Secret{}, errors.New("a webhook secret is whsec_ and the base64 of 24 to 64 bytes (paidup webhook secret makes one)")
	}
	return Secret{key: key}, nil
}

// NewSecret makes a secret.
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign is the headers of a message's attempt at t: webhook-id,
// webhook-timestamp and webhook-signature, "v1,…" for each secret, so
// that a receiver holding either of two during a rotation accepts it.
func Sign(id string, t time.Time, payload []byte, secrets []Secret) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	ts := strconv.FormatInt(t.Unix(), 10)
	h.Set("webhook-timestamp", ts)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		mac := hmac.New(sha256.New, s.key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(payload)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return h
}

// Schedule is Svix's: the first attempt at once, then after 5 s, 5 min,
// 30 min, 2 h, 5 h, 10 h and 10 h; after the last, the message is dead.
var Schedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Outcome is what came of an attempt.
type Outcome struct {
	// Status is the endpoint's answer; zero when it gave none.
	Status int
	// Delivered: a 2xx.
	Delivered bool
	// Gone: a 410; the endpoint is disabled, and nothing more is sent
	// to it.
	Gone bool
	// Retry is how long to wait before the next attempt, when there is
	// one: the schedule's, or the endpoint's Retry-After if longer.
	Retry time.Duration
	// Dead: no attempt is left; the message is dead-lettered.
	Dead bool
	Err  error
}

// maxRetryAfter bounds how long an endpoint's Retry-After holds a message.
const maxRetryAfter = 24 * time.Hour

// Attempt makes attempt n (0 for the first) of delivering a message to
// url at now, and says what comes next.
func Attempt(ctx context.Context, client *http.Client, url string, m Message, secrets []Secret, n int, now time.Time) Outcome {
	payload, err := m.Payload()
	if err != nil {
		return Outcome{Dead: true, Err: fmt.Errorf("encoding the message: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return Outcome{Dead: true, Err: err}
	}
	for k, v := range Sign(m.ID, now, payload, secrets) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paidup-webhooks")
	out := Outcome{}
	resp, err := client.Do(req)
	if err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		out.Status = resp.StatusCode
	}
	switch {
	case err != nil:
		out.Err = err
	case out.Status >= 200 && out.Status < 300:
		out.Delivered = true
		return out
	case out.Status == http.StatusGone:
		out.Gone, out.Err = true, errors.New("the endpoint answered 410 Gone: it is disabled")
		return out
	default:
		out.Err = fmt.Errorf("the endpoint answered %d", out.Status)
	}
	if n+1 >= len(Schedule) {
		out.Dead = true
		return out
	}
	out.Retry = Schedule[n+1]
	if resp != nil {
		if d := retryAfter(resp.Header.Get("Retry-After"), now); d > out.Retry {
			out.Retry = min(d, maxRetryAfter)
		}
	}
	return out
}

// retryAfter reads Retry-After: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}
