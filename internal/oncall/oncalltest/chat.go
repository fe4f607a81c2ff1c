// Package oncalltest is a faithful stand-in for the chat services paidup
// pages through, for tests.
package oncalltest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ChatEndpoint is a faithful stand-in for a Discord or Slack incoming
// webhook: it checks the payload as the service does, keeps to the
// service's rate limit (answering 429 with Retry-After when a sender goes
// past it), can be told to refuse the next posts with 429, and records
// the messages it accepted.
type ChatEndpoint struct {
	Kind string
	srv  *httptest.Server

	mu       sync.Mutex
	messages []string
	posts    []time.Time // accepted, for the rate limit
	// throttle: the next posts answered 429, each with retryAfter.
	throttle   int
	retryAfter string
	refused    int // 429s answered
	bad        int // payloads refused
}

// NewChatEndpoint starts an endpoint of kind (discord or slack), stopped
// when the test ends.
func NewChatEndpoint(t testing.TB, kind string) *ChatEndpoint {
	c := &ChatEndpoint{Kind: kind}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

// URL is the webhook's address.
func (c *ChatEndpoint) URL() string { return c.srv.URL + "/hooks/T000/B000/secret" }

func (c *ChatEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/T000/B000/secret" {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	window, limit := 2*time.Second, 5 // Discord: 5 per 2 s per webhook
	if c.Kind == "slack" {
		window, limit = time.Second, 1 // Slack: about 1 per second
	}
	recent := 0
	for _, p := range c.posts {
		if now.Sub(p) < window {
			recent++
		}
	}
	if c.throttle > 0 || recent >= limit {
		if c.throttle > 0 {
			c.throttle--
		}
		c.refused++
		after := c.retryAfter
		if after == "" {
			after = "1"
		}
		w.Header().Set("Retry-After", after)
		if c.Kind == "discord" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprintf(w, `{"message": "You are being rate limited.", "retry_after": %s, "global": false}`, after)
			return
		}
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "rate_limited")
		return
	}
	text, ok := c.read(r)
	if !ok {
		c.bad++
		w.WriteHeader(http.StatusBadRequest)
		if c.Kind == "discord" {
			io.WriteString(w, `{"message": "Cannot send an empty message", "code": 50006}`)
		} else {
			io.WriteString(w, "invalid_payload")
		}
		return
	}
	c.posts = append(c.posts, now)
	c.messages = append(c.messages, text)
	if c.Kind == "discord" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	io.WriteString(w, "ok")
}

// read checks a payload as the service does and returns its text.
func (c *ChatEndpoint) read(r *http.Request) (string, bool) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return "", false
	}
	var p struct {
		Content         *string         `json:"content"`
		Text            *string         `json:"text"`
		AllowedMentions json.RawMessage `json:"allowed_mentions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		return "", false
	}
	if c.Kind == "discord" {
		if p.Content == nil || *p.Content == "" || len([]rune(*p.Content)) > 2000 || len(p.AllowedMentions) == 0 {
			return "", false
		}
		return *p.Content, true
	}
	if p.Text == nil || *p.Text == "" {
		return "", false
	}
	return *p.Text, true
}

// Messages are the messages accepted, in order.
func (c *ChatEndpoint) Messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.messages...)
}

// Throttle answers the next n posts 429 with Retry-After: retryAfter
// (seconds).
func (c *ChatEndpoint) Throttle(n int, retryAfter string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttle, c.retryAfter = n, retryAfter
}

// Refused counts the 429s answered and the payloads refused.
func (c *ChatEndpoint) Refused() (refused, bad int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused, c.bad
}
