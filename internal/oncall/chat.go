package oncall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/time/rate"

	"github.com/paidup/paidup/internal/store"
)

// Chat kinds: the incoming webhook formats paidup posts in.
const (
	Discord = "discord"
	Slack   = "slack"
)

// Channel is a chat channel's incoming webhook.
type Channel struct {
	Kind string
	URL  string
}

// post queues a notification's message to every chat channel.
func (e *Evaluator) post(ctx context.Context, tx *store.Tx, alertID string, seq int, text string) error {
	for i := range e.Chat {
		if err := tx.Enqueue(ctx, ChatArgs{AlertID: alertID, Seq: seq, Channel: i, Text: text}, nil); err != nil {
			return err
		}
	}
	return nil
}

// ChatArgs is the job that posts one notification to one chat channel,
// named by its place in the configuration (the URL is a credential, and
// jobs are kept in the database).
type ChatArgs struct {
	AlertID string `json:"alert_id"`
	Seq     int    `json:"seq"`
	Channel int    `json:"channel"`
	Text    string `json:"text"`
}

// Kind names the job.
func (ChatArgs) Kind() string { return "oncall_chat" }

// InsertOpts: about a day of retries with River's backoff.
func (ChatArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 12} }

// ChatWorker posts notifications to chat channels, within each endpoint's
// rate limit, and waits as long as an endpoint that answers 429 says.
type ChatWorker struct {
	river.WorkerDefaults[ChatArgs]
	Channels []Channel
	Client   *http.Client
	Logger   *slog.Logger

	mu     sync.Mutex
	limits map[int]*rate.Limiter
}

// Discord allows a webhook 5 posts every 2 seconds, Slack about one a
// second; paidup keeps under both.
func (w *ChatWorker) limiter(i int, kind string) *rate.Limiter {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.limits == nil {
		w.limits = map[int]*rate.Limiter{}
	}
	if l := w.limits[i]; l != nil {
		return l
	}
	l := rate.NewLimiter(rate.Every(time.Second), 1)
	if kind == Discord {
		l = rate.NewLimiter(rate.Every(400*time.Millisecond), 5)
	}
	w.limits[i] = l
	return l
}

// errChat is an answer from a chat endpoint that another try will not
// change (the webhook deleted, the payload refused).
var errChat = errors.New("the chat endpoint refused the message")

// Work posts the message.
func (w *ChatWorker) Work(ctx context.Context, job *river.Job[ChatArgs]) error {
	if job.Args.Channel >= len(w.Channels) {
		return river.JobCancel(fmt.Errorf("chat channel %d is no longer in oncall.chat", job.Args.Channel))
	}
	ch := w.Channels[job.Args.Channel]
	if err := w.limiter(job.Args.Channel, ch.Kind).Wait(ctx); err != nil {
		return err
	}
	body, err := json.Marshal(payload(ch.Kind, job.Args.Text))
	if err != nil {
		return river.JobCancel(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URL, bytes.NewReader(body))
	if err != nil {
		return river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL is a credential: errors name the channel by kind.
		return fmt.Errorf("posting to %s chat channel %d: %w", ch.Kind, job.Args.Channel, redact(err, ch.URL))
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := retryAfter(resp.Header, answer)
		w.Logger.Warn("chat endpoint is rate limiting paidup; waiting as it says", "kind", ch.Kind, "channel", job.Args.Channel, "wait", wait)
		return river.JobSnooze(wait)
	case resp.StatusCode >= 500:
		return fmt.Errorf("posting to %s chat channel %d: %s: %s", ch.Kind, job.Args.Channel, resp.Status, strings.TrimSpace(string(answer)))
	}
	return river.JobCancel(fmt.Errorf("%w: %s chat channel %d: %s: %s", errChat, ch.Kind, job.Args.Channel, resp.Status, strings.TrimSpace(string(answer))))
}

// payload is a message in the channel's format. Discord's mentions are
// off, so an alert's text (which quotes what customers typed) cannot ping
// @everyone; Slack's control characters are escaped as it asks.
func payload(kind, text string) any {
	if kind == Discord {
		if r := []rune(text); len(r) > 2000 {
			text = string(r[:1999]) + "…"
		}
		return map[string]any{"content": text, "allowed_mentions": map[string]any{"parse": []string{}}}
	}
	return map[string]any{"text": strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)}
}

// retryAfter is how long a 429 asks to wait: the Retry-After header (both
// services), or Discord's retry_after in the body, in seconds; between a
// second and an hour.
func retryAfter(h http.Header, body []byte) time.Duration {
	secs, err := strconv.ParseFloat(h.Get("Retry-After"), 64)
	if err != nil {
		var d struct {
			RetryAfter float64 `json:"retry_after"`
		}
		if json.Unmarshal(body, &d) == nil {
			secs = d.RetryAfter
		}
	}
	return min(max(time.Duration(secs*float64(time.Second)), time.Second), time.Hour)
}

// redact takes a webhook URL out of an error.
func redact(err error, url string) error {
	return errors.New(strings.ReplaceAll(err.Error(), url, "(webhook URL)"))
}
