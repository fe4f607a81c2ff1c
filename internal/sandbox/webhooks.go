package sandbox

import (
	"bytes"
	"container/heap"
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
	"sync"
	"sync/atomic"
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

// Run delivers webhooks, expires checkout sessions and does the default
// clock's billing as it falls due, until ctx ends.
func (s *Sandbox) Run(ctx context.Context) {
	if s.opts.DeliveryConcurrency > 1 {
		s.runConcurrent(ctx, s.opts.DeliveryConcurrency)
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		s.expireSessions(ctx)
		s.runDueBilling(ctx)
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
		if o, ok := s.send(ctx, d); ok {
			s.record(ctx, []outcome{o})
		}
	}
	return time.Time{}
}

// runConcurrent delivers up to n webhooks at once, as Stripe does: due
// deliveries start in the order they became due, but overlap, so they may
// arrive in another order. Their outcomes are recorded in batches, one
// database transaction for all the attempts that finished meanwhile.
func (s *Sandbox) runConcurrent(ctx context.Context, n int) {
	outcomes := make(chan outcome, n)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for o := range outcomes {
			batch := []outcome{o}
		gather:
			for len(batch) < 256 {
				select {
				case o, ok := <-outcomes:
					if !ok {
						break gather
					}
					batch = append(batch, o)
				default:
					break gather
				}
			}
			s.record(ctx, batch)
		}
	}()
	var busy atomic.Int64 // attempts under way
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		s.expireSessions(ctx)
		s.runDueBilling(ctx)
		var next time.Time
		if free := n - int(busy.Load()); free > 0 && ctx.Err() == nil {
			// When all are busy, a finished one wakes the loop.
			var due []*Delivery
			due, next = s.claimDue(free)
			for _, d := range due {
				busy.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					o, ok := s.send(ctx, d)
					if ok {
						outcomes <- o
					} else {
						s.release(d.ID)
					}
					busy.Add(-1)
					s.poke()
				}()
			}
		}
		wait := time.Second
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			wg.Wait()
			close(outcomes)
			<-recorded
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// poke wakes Run.
func (s *Sandbox) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// release forgets that a delivery is being attempted, without recording
// an attempt.
func (s *Sandbox) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, id)
}

// claimDue returns up to n deliveries to attempt now, earliest due first,
// marked as being attempted (not returned again until their outcome is
// recorded), and when the next one is due.
func (s *Sandbox) claimDue(n int) ([]*Delivery, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Delivery
	now := time.Now()
	for len(s.due) > 0 {
		e := s.due[0]
		d, ok := s.objects[e.id].(*Delivery)
		if !ok || d.Status != deliveryPending || !d.NextAt.Equal(e.at) || s.inflight[e.id] {
			heap.Pop(&s.due) // changed since it was queued
			continue
		}
		if d.NextAt.After(now) {
			return out, d.NextAt
		}
		if len(out) == n {
			return out, now // more are due than can start now
		}
		heap.Pop(&s.due)
		s.inflight[d.ID] = true
		c := *d
		c.Attempts = slices.Clone(d.Attempts)
		out = append(out, &c)
	}
	return out, time.Time{}
}

// dueEntry is a pending delivery in the due queue, as it was queued.
type dueEntry struct {
	at  time.Time
	seq int64
	id  string
}

// dueQueue is a min-heap of deliveries by due time, then creation order.
type dueQueue []dueEntry

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return q[i].seq < q[j].seq
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
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

// outcome is a delivery attempt made, waiting to be recorded.
type outcome struct {
	d *Delivery // as it was when the attempt started
	a Attempt
	// gone: the endpoint was deleted or disabled; nothing was sent.
	gone bool
}

// send makes one delivery attempt, without the lock held. It returns false
// if ctx ended first: then the attempt did not happen.
func (s *Sandbox) send(ctx context.Context, d *Delivery) (outcome, bool) {
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
		return outcome{}, false // shutting down: the attempt did not happen
	}
	return outcome{d: d, a: a, gone: payload == nil}, true
}

// record stores the outcomes of attempts, in one transaction.
func (s *Sandbox) record(ctx context.Context, outs []outcome) {
	err := s.update(context.WithoutCancel(ctx), nil, func(t *txn) error {
		for _, o := range outs {
			delete(s.inflight, o.d.ID)
			cur, ok := t.s.objects[o.d.ID].(*Delivery)
			if !ok || cur.Status != deliveryPending {
				continue
			}
			cur.Attempts = append(cur.Attempts, o.a)
			switch {
			case o.a.Status >= 200 && o.a.Status < 300:
				cur.Status = deliverySucceeded
				cur.NextAt = time.Time{}
			case o.gone || len(cur.Attempts) > len(s.opts.RetrySchedule):
				cur.Status = deliveryFailed
				cur.NextAt = time.Time{}
			default:
				cur.NextAt = time.Now().Add(s.opts.RetrySchedule[len(cur.Attempts)-1])
			}
			t.put(cur)
			if ev, ok := t.s.objects[o.d.Event].(*Event); ok {
				t.s.recountPending(t, ev)
			}
		}
		return nil
	})
	for _, o := range outs {
		if err != nil {
			s.log.Error("sandbox: recording webhook delivery failed", "delivery", o.d.ID, "err", err)
		}
		// A delivery that succeeded is at debug level: the receiver logs
		// its request, and in sandbox mode that is paidup's own log.
		level := s.log.Debug
		if o.a.Status < 200 || o.a.Status >= 300 {
			level = s.log.Warn
		}
		level("sandbox: webhook delivered", "event", o.d.Event, "type", o.d.Type, "endpoint", o.d.Endpoint,
			"attempt", len(o.d.Attempts)+1, "status", o.a.Status, "error", o.a.Error)
	}
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
