package oncall_test

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

// chatEndpoint is a faithful stand-in for a Discord or Slack incoming
// webhook: it checks the payload as the service does, keeps to the
// service's rate limit (answering 429 with Retry-After when a sender goes
// past it), can be told to refuse the next posts with 429, and records
// the messages it accepted.
type chatEndpoint struct {
	kind string
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

func newChatEndpoint(t *testing.T, kind string) *chatEndpoint {
	c := &chatEndpoint{kind: kind}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *chatEndpoint) URL() string { return c.srv.URL + "/hooks/T000/B000/secret" }

func (c *chatEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/T000/B000/secret" {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	window, limit := 2*time.Second, 5 // Discord: 5 per 2 s per webhook
	if c.kind == "slack" {
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
		if c.kind == "discord" {
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
		if c.kind == "discord" {
			io.WriteString(w, `{"message": "Cannot send an empty message", "code": 50006}`)
		} else {
			io.WriteString(w, "invalid_payload")
		}
		return
	}
	c.posts = append(c.posts, now)
	c.messages = append(c.messages, text)
	if c.kind == "discord" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	io.WriteString(w, "ok")
}

// read checks a payload as the service does and returns its text.
func (c *chatEndpoint) read(r *http.Request) (string, bool) {
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
	if c.kind == "discord" {
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

func (c *chatEndpoint) Messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.messages...)
}

func (c *chatEndpoint) Throttle(n int, retryAfter string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttle, c.retryAfter = n, retryAfter
}

func (c *chatEndpoint) Refused() (refused, bad int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused, c.bad
}
