package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paidup/paidup/internal/sandbox"
)

// webhookSender sends paidup correctly signed Stripe events, each with a
// new event id, built from real events the sandbox sent for paid checkouts
// that paidup has already fulfilled: the objects exist, and processing an
// event is what a late or repeated event costs (a database read tells it
// the checkout is settled; no processor call).
type webhookSender struct {
	url       string
	templates [][2][]byte // payload before and after the event id
	prefix    string
	next      atomic.Int64
	client    *http.Client
}

func newWebhookSender(ctx context.Context, w *world, p *paidupProc, eventType string, seed int) (*webhookSender, error) {
	b := &buyer{w: w, shop: p.shopURL, prefix: "seed-" + randomHex(3)}
	for range seed {
		if pu := b.buy(ctx, time.Now()); pu.err != nil {
			return nil, fmt.Errorf("seeding: %w", pu.err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := w.mailCount(ctx)
		if err != nil {
			return nil, err
		}
		if n >= seed {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("seeding: only %d of %d seed purchases were confirmed within a minute", n, seed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, err := w.call(ctx, http.MethodGet, "/v1/events?limit="+strconv.Itoa(seed)+"&type="+url.QueryEscape("checkout.session.completed"), nil)
	if err != nil {
		return nil, err
	}
	s := &webhookSender{url: p.shopURL + "/webhooks/stripe", prefix: "evt_load" + randomHex(4) + "_",
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 4000, MaxIdleConnsPerHost: 4000, IdleConnTimeout: time.Minute}}}
	for _, raw := range list["data"].([]any) {
		ev := raw.(map[string]any)
		ev["id"] = "\x00ID\x00"
		ev["type"] = eventType
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ") // as Stripe (and the sandbox) send them
		enc.SetEscapeHTML(false)
		if err := enc.Encode(ev); err != nil {
			return nil, err
		}
		before, after, _ := bytes.Cut(buf.Bytes(), []byte(`\u0000ID\u0000`))
		s.templates = append(s.templates, [2][]byte{before, after})
	}
	if len(s.templates) == 0 {
		return nil, fmt.Errorf("seeding: the sandbox has no checkout.session.completed events")
	}
	return s, nil
}

// send delivers one new event and returns when paidup answered.
func (s *webhookSender) send(ctx context.Context) error {
	n := s.next.Add(1)
	t := s.templates[int(n)%len(s.templates)]
	payload := make([]byte, 0, len(t[0])+len(t[1])+32)
	payload = append(payload, t[0]...)
	payload = strconv.AppendInt(append(payload, s.prefix...), n, 10)
	payload = append(payload, t[1]...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", sandbox.Sign(payload, webhookSecret, time.Now()))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

type ackThroughput struct {
	senders    int
	duration   time.Duration
	acks       int
	errors     int
	firstError string
	perSecond  float64
	latency    latencies
	backlog    int           // events stored but not yet processed when sending stopped
	drain      time.Duration // until every event was processed
	drained    bool
	processed  float64 // events processed per second, from the start to the drain
	cpu        string
}

// runAckThroughput sends events from many concurrent senders, each sending
// its next as soon as the last is acknowledged (closed loop), for warm+d,
// counting the acknowledgements in the last d.
func runAckThroughput(ctx context.Context, s *webhookSender, p *paidupProc, senders int, warm, d, drainWait time.Duration) (*ackThroughput, error) {
	res := &ackThroughput{senders: senders, duration: d}
	start := time.Now()
	from, until := start.Add(warm), start.Add(warm+d)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var meter *cpuMeter
	var cpuOnce sync.Once
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var errs int
			var firstErr string
			for ctx.Err() == nil {
				t := time.Now()
				if t.After(until) {
					break
				}
				if !t.Before(from) {
					cpuOnce.Do(func() { meter = startCPU(p.cmd.Process.Pid) })
				}
				err := s.send(ctx)
				end := time.Now()
				if t.Before(from) || end.After(until) {
					continue
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				mine = append(mine, end.Sub(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			res.errors += errs
			if res.firstError == "" {
				res.firstError = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if meter != nil {
		res.cpu = meter.String()
	}
	res.acks = len(lat)
	res.perSecond = rate(res.acks, d)
	res.latency = summarise(lat)
	stopped := time.Now()
	var err error
	res.backlog, _, err = p.backlog(ctx)
	if err != nil {
		return nil, err
	}
	deadline := stopped.Add(drainWait)
	for {
		n, _, err := p.backlog(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			res.drained = true
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.drain = time.Since(stopped)
	var total int
	if err := p.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL`).Scan(&total); err == nil {
		res.processed = rate(total, time.Since(start))
	}
	return res, nil
}

type ackLatency struct {
	offered    float64
	duration   time.Duration
	sent, acks int
	errors     int
	firstError string
	achieved   float64
	latency    latencies
	// late is how late the harness started each request: a part of the
	// latency that is the load generator's, not paidup's.
	late    latencies
	cpu     string
	backlog int
}

// runAckLatency sends events at a constant rate (open loop) and measures
// each acknowledgement from when its request was due, so that a stall
// counts against every request it delayed. The first warm of sending is
// not counted.
func runAckLatency(ctx context.Context, s *webhookSender, p *paidupProc, perSecond float64, warm, d time.Duration) (*ackLatency, error) {
	res := &ackLatency{offered: perSecond, duration: d}
	openLoop(ctx, perSecond, warm, func(time.Time) { s.send(ctx) })
	var mu sync.Mutex
	var lat, late []time.Duration
	var last time.Time
	meter, t0 := startCPU(p.cmd.Process.Pid), time.Now()
	openLoop(ctx, perSecond, d, func(at time.Time) {
		started := time.Now()
		err := s.send(ctx)
		end := time.Now()
		mu.Lock()
		defer mu.Unlock()
		late = append(late, started.Sub(at))
		res.sent++
		if err != nil {
			res.errors++
			if res.firstError == "" {
				res.firstError = err.Error()
			}
			return
		}
		lat = append(lat, end.Sub(at))
		if end.After(last) {
			last = end
		}
	})
	res.cpu = meter.String()
	res.acks = len(lat)
	res.achieved = rate(res.acks, last.Sub(t0))
	res.latency = summarise(lat)
	res.late = summarise(late)
	res.backlog, _, _ = p.backlog(ctx)
	return res, nil
}
