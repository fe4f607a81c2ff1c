package web

import (
	"errors"
	"io"
	"net/http"
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
			s.refuse(w, "unreadable", err)
			return
		}
		if len(body) > maxWebhookBody {
			s.refuse(w, "oversize", nil)
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
			s.refuse(w, reason, err)
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
		s.Logger.Info("webhook received", "ref", requestRef(r), "event", ev.ID, "type", ev.Type, "object", ev.ObjectID, "result", result)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"received":true}` + "\n"))
	})
}

// refuse answers a webhook that failed verification: a counter, a
// rate-limited log line, and a 400 that tells the sender nothing useful.
func (s *Server) refuse(w http.ResponseWriter, reason string, err error) {
	s.Metrics.WebhooksRefused.WithLabelValues("stripe", reason).Inc()
	var detail string
	if err != nil {
		detail = err.Error()
	}
	s.refusals.warn(reason, "webhook refused", "processor", "stripe", "reason", reason, "detail", detail)
	http.Error(w, "invalid webhook", http.StatusBadRequest)
}
