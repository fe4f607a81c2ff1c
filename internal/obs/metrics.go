package obs

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are paidup's Prometheus metrics, on a registry of paidup's own so
// that nothing else in the process adds to /metrics by accident.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests     *prometheus.CounterVec
	HTTPDuration     *prometheus.HistogramVec
	WebhooksReceived *prometheus.CounterVec
	WebhooksRefused  *prometheus.CounterVec
	CheckoutsStarted *prometheus.CounterVec

	// The limits: requests refused, and the processor budget's waits and
	// refusals.
	RequestsLimited        *prometheus.CounterVec
	ProcessorBudgetWaited  *prometheus.CounterVec
	ProcessorBudgetRefused *prometheus.CounterVec

	// EventsFailed counts processor events whose processing failed (it is
	// tried again); EventsNotApplicable, those about an object the
	// processor does not have, recorded as not applicable.
	EventsFailed        *prometheus.CounterVec
	EventsNotApplicable *prometheus.CounterVec
	// SignInsDropped counts sign-in link requests lost to a full queue.
	SignInsDropped prometheus.Counter
}

// NewMetrics registers paidup's metrics and the Go runtime's.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paidup_http_requests_total", Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paidup_http_request_duration_seconds", Help: "Time to serve HTTP requests, by route.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		WebhooksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paidup_webhooks_received_total", Help: "Verified webhooks stored, by processor and whether the event was new or a duplicate.",
		}, []string{"processor", "result"}),
		WebhooksRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paidup_webhooks_refused_total", Help: "Webhooks refused, by processor and reason (signature, stale, malformed, oversize, unreadable).",
		}, []string{"processor", "reason"}),
		CheckoutsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paidup_checkouts_started_total", Help: "Checkout attempts, by result (redirected, processor_error).",
		}, []string{"result"}),
		EventsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paidup_events_failed_total", Help: "Processor events whose processing failed and will be tried again, by event type.",
		}, []string{"type"}),
		EventsNotApplicable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paidup_events_not_applicable_total", Help: "Processor events about an object the processor does not have, recorded as not applicable, by event type.",
		}, []string{"type"}),
		SignInsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paidup_sign_in_requests_dropped_total", Help: "Requests for a sign-in link dropped because the queue of waiting requests was full.",
		}),
	}
	r.MustRegister(m.SignInsDropped)
	r.MustRegister(m.HTTPRequests, m.HTTPDuration, m.WebhooksReceived, m.WebhooksRefused, m.CheckoutsStarted,
		m.EventsFailed, m.EventsNotApplicable,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerLimits()
	return m
}

func (m *Metrics) registerLimits() {
	m.RequestsLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paidup_requests_limited_total", Help: "Requests refused with a 429, by limit (checkout, sign_in_link, sign_in, status, account, help, api_auth, processor_budget).",
	}, []string{"limit"})
	m.ProcessorBudgetWaited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paidup_processor_budget_waits_total", Help: "Processor calls that waited for their turn in the processor budget, by kind (read, write).",
	}, []string{"kind"})
	m.ProcessorBudgetRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paidup_processor_budget_refused_total", Help: "Customers' processor calls refused because the processor budget was spent, by kind (read, write).",
	}, []string{"kind"})
	m.Registry.MustRegister(m.RequestsLimited, m.ProcessorBudgetWaited, m.ProcessorBudgetRefused)
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
