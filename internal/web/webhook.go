package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
)

// maxWebhookBody is the largest webhook accepted. Stripe's events are far
// smaller.
const maxWebhookBody = 1 << 20

// handleStripeWebhook receives Stripe's events. An event is verified, then
// committed, and only then acknowledged: a 2xx means paidup has it on disk.
// Anything that fails verification gets a plain 400 (a body that is not
// JSON, a plain 415) and changes nothing.
func (s *Server) handleStripeWebhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isJSON(r.Header.Get("Content-Type")) {
			s.countRefusal(r, "content_type", nil)
			http.Error(w, "webhooks are sent as application/json", http.StatusUnsupportedMediaType)
			return
		}
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
			case errors.Is(err, stripe.ErrLivemode):
				reason = "livemode"
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

// isJSON reports whether a Content-Type is application/json, with or
// without parameters (Stripe sends "application/json; charset=utf-8").
func isJSON(contentType string) bool {
	media, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(media), "application/json")
}

// refuse answers a webhook that failed verification with a 400 that tells
// the sender nothing useful.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, reason string, err error) {
	s.countRefusal(r, reason, err)
	http.Error(w, "invalid webhook", http.StatusBadRequest)
}

// countRefusal counts a refused webhook: a counter, a rate-limited log
// line, and, when many come in a short time — a rotated secret not
// configured, or someone probing — an alert to on-call, again each hour
// while they go on.
func (s *Server) countRefusal(r *http.Request, reason string, err error) {
	s.Metrics.WebhooksRefused.WithLabelValues("stripe", reason).Inc()
	var detail string
	if err != nil {
		detail = err.Error()
	}
	s.refusals.warn(reason, "webhook refused", "processor", "stripe", "reason", reason, "detail", detail)
	if n, alert := s.webhookRefusals.add(s.Now(), refusalAlertThreshold); alert {
		s.alert(r, paidup.SupportCase{
			DedupeKey: "webhook_refusals:" + s.Now().UTC().Format("2006-01-02T15"), Kind: paidup.CaseWebhookRefusal,
			Summary: fmt.Sprintf("%d Stripe webhooks were refused in the last %s (the last for %s). Check that processor.stripe.webhook_secrets has the endpoint's current signing secret, and that the endpoint is of paidup's mode (live or test); if both are right, someone is sending forged webhooks.",
				n, burstWindow, reason),
		})
	}
}

// refusalAlertThreshold refusals within burstWindow alert on-call.
const refusalAlertThreshold = 20
