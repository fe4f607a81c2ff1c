package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
)

// maxWebhookBody is the largest webhook accepted. Stripe's events are far
// smaller.
const maxWebhookBody = 1 << 20

// handleStripeWebhook receives Stripe's events. An event is verified, then
// committed, and only then acknowledged: a 2xx means paidup has it on disk.
// Anything that fails verification gets a plain 400 and changes nothing.
func (s *Server) handleStripeWebhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
		if err != nil {
			s.refuse(w, r, "unreadable", err)
			return
		}
		if len(body) > maxWebhookBody {
			s.refuse(w, r, "oversize", nil)
			return
		}
		// Signatures are checked against real time, not the business
		// clock: they prove freshness on the wire.
		ev, err := s.Webhooks.Verify(body, r.Header.Get("Stripe-Signature"), time.Now())
		if err != nil {
			reason := "malformed"
			switch {
			case errors.Is(err, stripe.ErrNoSignature), errors.Is(err, stripe.ErrBadSignature), errors.Is(err, stripe.ErrBadHeader):
				reason = "signature"
			case errors.Is(err, stripe.ErrStale):
				reason = "stale"
			}
			s.refuse(w, r, reason, err)
			return
		}
		created, err := s.Ingester.Ingest(r.Context(), store.WebhookEvent{
			Processor: "stripe", ID: ev.ID, Type: ev.Type, ObjectType: ev.ObjectType, ObjectID: ev.ObjectID,
			Created: ev.Created, Payload: body,
		})
		if err != nil {
			// Not stored, so not acknowledged: Stripe will send it again.
			s.Logger.Error("storing webhook failed", "ref", requestRef(r), "event", ev.ID, "type", ev.Type, "err", err)
			http.Error(w, "could not store the event; send it again", http.StatusServiceUnavailable)
			return
		}
		result := "new"
		if !created {
			result = "duplicate"
		}
		s.Metrics.WebhooksReceived.WithLabelValues("stripe", result).Inc()
		addLogAttrs(r, "event", ev.ID, "type", ev.Type, "object", ev.ObjectID, "result", result)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"received":true}` + "\n"))
	})
}

// refuse answers a webhook that failed verification: a counter, a
// rate-limited log line, and a 400 that tells the sender nothing useful.
// Many refusals in a short time — a rotated secret not configured, or
// someone probing — alert on-call.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, reason string, err error) {
	s.Metrics.WebhooksRefused.WithLabelValues("stripe", reason).Inc()
	var detail string
	if err != nil {
		detail = err.Error()
	}
	s.refusals.warn(reason, "webhook refused", "processor", "stripe", "reason", reason, "detail", detail)
	if n := s.refusalWindow.add(time.Now()); n == refusalAlertThreshold {
		s.alertRefusals(r, reason, n)
	}
	http.Error(w, "invalid webhook", http.StatusBadRequest)
}

// refusalAlertThreshold refusals within refusalWindowLength alert on-call.
const (
	refusalAlertThreshold = 20
	refusalWindowLength   = 10 * time.Minute
)

func (s *Server) alertRefusals(r *http.Request, reason string, n int) {
	hour := s.Now().UTC().Format("2006-01-02T15")
	err := s.Store.InTx(r.Context(), func(tx *store.Tx) error {
		return s.Outbox.OpenCase(r.Context(), tx, store.SupportCase{
			DedupeKey: "webhook_refusals:" + hour, Kind: store.CaseWebhookRefusal,
			Summary: fmt.Sprintf("%d Stripe webhooks were refused in %s (the last for %s). Check that processor.stripe.webhook_secrets has the endpoint's current signing secret; if it does, someone is sending forged webhooks.",
				n, refusalWindowLength, reason),
		})
	})
	if err != nil {
		s.Logger.Error("alerting on refused webhooks failed", "err", err)
	}
}

// slidingCount counts events in the last refusalWindowLength.
type slidingCount struct {
	mu    sync.Mutex
	times []time.Time
}

func (c *slidingCount) add(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	cut := 0
	for cut < len(c.times) && now.Sub(c.times[cut]) > refusalWindowLength {
		cut++
	}
	c.times = append(c.times[cut:], now)
	return len(c.times)
}
