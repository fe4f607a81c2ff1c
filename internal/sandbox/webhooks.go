package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const objectDelivery = "sandbox.webhook_delivery"

// Delivery states.
const (
	deliveryPending   = "pending"   // waiting for its next attempt
	deliveryHeld      = "held"      // held back by a reorder fault
	deliverySucceeded = "succeeded" // the endpoint answered 2xx
	deliveryFailed    = "failed"    // every attempt failed; given up
	deliveryDropped   = "dropped"   // a drop fault: never sent
)

// Delivery is the sending of one event to one webhook endpoint, with every
// attempt made.
type Delivery struct {
	ID       string    `json:"id"`
	Object   string    `json:"object"`
	Created  int64     `json:"created"`
	Event    string    `json:"event"`
	Type     string    `json:"type"`
	Endpoint string    `json:"endpoint"`
	Status   string    `json:"status"`
	NextAt   time.Time `json:"next_attempt_at,omitzero"`
	Attempts []Attempt `json:"attempts"`
	// Fault names the fault rule that changed this delivery, if any.
	Fault string `json:"fault,omitempty"`
	// Copy marks the extra delivery made by a duplicate fault.
	Copy bool `json:"copy,omitempty"`
}

func (d *Delivery) objectID() string   { return d.ID }
func (d *Delivery) objectType() string { return objectDelivery }
func (d *Delivery) createdAt() int64   { return d.Created }

// Attempt is one HTTP request to an endpoint.
type Attempt struct {
	At       time.Time `json:"at"`
	Status   int       `json:"status,omitempty"` // HTTP status; 0 if none came
	Error    string    `json:"error,omitempty"`
	Duration float64   `json:"duration_ms"`
}

// emit records an event about o and schedules its delivery to every
// endpoint that wants it. prev holds the previous values of changed fields.
func (t *txn) emit(eventType string, o Object, prev map[string]any) *Event {
	ev := &Event{
		meta:       meta{ID: newID("evt"), Object: "event", Created: t.now.Unix()},
		APIVersion: t.s.opts.APIVersion,
		Data:       EventData{Object: t.s.renderJSON(o), PreviousAttributes: prev},
		Type:       eventType,
		Request:    &EventRequest{},
	}
	if t.request != nil {
		ev.Request = t.request
	}
	t.put(ev)
	for _, id := range t.s.byType["webhook_endpoint"] {
		we, ok := t.s.objects[id].(*WebhookEndpoint) // not when deleted
		if !ok || we.Status != "enabled" || !wantsEvent(we.EnabledEvents, eventType) {
			continue
		}
		d := &Delivery{
			ID: newID("whdel"), Object: objectDelivery, Created: t.now.Unix(),
			Event: ev.ID, Type: eventType, Endpoint: we.ID, Status: deliveryPending, NextAt: time.Now(),
		}
		ev.PendingWebhooks++
		t.put(d)
		t.s.faults.apply(t, d)
	}
	t.emitted = true
	return ev
}

func wantsEvent(enabled []string, eventType string) bool {
	for _, e := range enabled {
		if e == "*" || e == eventType {
			return true
		}
	}
	return false
}

// Run delivers webhooks and expires checkout sessions until ctx ends.
func (s *Sandbox) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		s.expireSessions(ctx)
		next := s.deliverDue(ctx)
		wait := time.Second
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// deliverDue makes every delivery attempt that is due, one at a time in the
// order they were scheduled, and returns when the next one is due.
func (s *Sandbox) deliverDue(ctx context.Context) time.Time {
	for ctx.Err() == nil {
		d, next := s.nextDue()
		if d == nil {
			return next
		}
		s.attempt(ctx, d)
	}
	return time.Time{}
}

// nextDue returns the delivery to attempt now, or when the next one is due.
func (s *Sandbox) nextDue() (*Delivery, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due *Delivery
	var next time.Time
	now := time.Now()
	for id := range s.pending {
		d := s.objects[id].(*Delivery)
		if !d.NextAt.After(now) {
			if due == nil || d.NextAt.Before(due.NextAt) || (d.NextAt.Equal(due.NextAt) && s.seqs[d.ID] < s.seqs[due.ID]) {
				due = d
			}
			continue
		}
		if next.IsZero() || d.NextAt.Before(next) {
			next = d.NextAt
		}
	}
	if due == nil {
		return nil, next
	}
	c := *due
	c.Attempts = slices.Clone(due.Attempts)
	return &c, next
}

// attempt sends one delivery and records the outcome. The request is made
// without the lock held.
func (s *Sandbox) attempt(ctx context.Context, d *Delivery) {
	s.mu.Lock()
	ev, _ := s.objects[d.Event].(*Event)
	we, _ := s.objects[d.Endpoint].(*WebhookEndpoint)
	var payload []byte
	var url, secret string
	if ev != nil && we != nil && we.Status == "enabled" {
		payload = s.renderEventPayload(ev)
		url, secret = we.URL, we.Secret
	}
	s.mu.Unlock()

	a := Attempt{At: time.Now()}
	if payload == nil {
		a.Error = "the endpoint was deleted or disabled"
	} else {
		a.Status, a.Error = post(ctx, s.client, url, secret, payload)
	}
	a.Duration = float64(time.Since(a.At).Microseconds()) / 1000
	if ctx.Err() != nil && a.Status == 0 {
		return // shutting down: the attempt did not happen
	}
	err := s.update(context.WithoutCancel(ctx), nil, func(t *txn) error {
		cur, ok := t.s.objects[d.ID].(*Delivery)
		if !ok || cur.Status != deliveryPending {
			return nil
		}
		cur.Attempts = append(cur.Attempts, a)
		switch {
		case a.Status >= 200 && a.Status < 300:
			cur.Status = deliverySucceeded
			cur.NextAt = time.Time{}
		case payload == nil || len(cur.Attempts) > len(s.opts.RetrySchedule):
			cur.Status = deliveryFailed
			cur.NextAt = time.Time{}
		default:
			cur.NextAt = time.Now().Add(s.opts.RetrySchedule[len(cur.Attempts)-1])
		}
		t.put(cur)
		if ev != nil {
			t.s.recountPending(t, ev)
		}
		return nil
	})
	if err != nil {
		s.log.Error("sandbox: recording webhook delivery failed", "delivery", d.ID, "err", err)
	}
	level := s.log.Info
	if a.Status < 200 || a.Status >= 300 {
		level = s.log.Warn
	}
	level("sandbox: webhook delivered", "event", d.Event, "type", d.Type, "endpoint", d.Endpoint,
		"attempt", len(d.Attempts)+1, "status", a.Status, "error", a.Error)
}

// recountPending sets an event's pending_webhooks to the number of endpoints
// that have not yet received it.
func (s *Sandbox) recountPending(t *txn, ev *Event) {
	delivered := map[string]bool{}
	endpoints := map[string]bool{}
	for _, id := range s.deliveriesOf[ev.ID] {
		d := s.objects[id].(*Delivery)
		endpoints[d.Endpoint] = true
		if d.Status == deliverySucceeded {
			delivered[d.Endpoint] = true
		}
	}
	n := int64(len(endpoints) - len(delivered))
	if ev.PendingWebhooks != n {
		ev.PendingWebhooks = n
		t.put(ev)
	}
}

// post sends a signed event and returns the HTTP status or an error text.
func post(ctx context.Context, c *http.Client, url, secret string, payload []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", Sign(payload, secret, time.Now()))
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, ""
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return resp.StatusCode, msg
}

// Sign returns a Stripe-Signature header for payload: the timestamp and an
// HMAC-SHA256 of "timestamp.payload" keyed with the endpoint secret, as
// Stripe signs webhooks.
func Sign(payload []byte, secret string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// renderEventPayload is the JSON body of a webhook: the event as the API
// shows it, pretty-printed as Stripe sends it.
func (s *Sandbox) renderEventPayload(ev *Event) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.render(ev)); err != nil {
		panic(fmt.Sprintf("sandbox: encoding event %s: %v", ev.ID, err))
	}
	return buf.Bytes()
}

// retry makes a delivery that has not succeeded due now.
func (t *txn) retry(d *Delivery) {
	if d.Status == deliverySucceeded {
		return
	}
	d.Status, d.NextAt = deliveryPending, time.Now()
	t.put(d)
	t.emitted = true
}
