package obs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paidup/paidup/internal/store"
)

// stateCollector reports paidup's state, read from the database at each
// scrape: what is unresolved, what waits for a person, what is queued.
type stateCollector struct {
	stats func(context.Context) (store.Stats, error)

	unresolved, oldest, cases, emails, jobs, up *prometheus.Desc
}

// RegisterState adds gauges read from the database on each scrape.
func (m *Metrics) RegisterState(stats func(context.Context) (store.Stats, error)) {
	m.Registry.MustRegister(&stateCollector{
		stats:      stats,
		unresolved: prometheus.NewDesc("paidup_checkouts_unresolved", "Checkouts whose outcome paidup does not know yet.", nil, nil),
		oldest:     prometheus.NewDesc("paidup_checkouts_oldest_unresolved_seconds", "Age of the oldest unresolved checkout.", nil, nil),
		cases:      prometheus.NewDesc("paidup_support_cases_open", "Open support cases: what waits for a person, by kind.", []string{"kind"}, nil),
		emails:     prometheus.NewDesc("paidup_emails", "Emails by status (queued, sending, sent, failed).", []string{"status"}, nil),
		jobs:       prometheus.NewDesc("paidup_jobs", "Background jobs by state.", []string{"state"}, nil),
		up:         prometheus.NewDesc("paidup_state_up", "1 if the state gauges could be read from the database.", nil, nil),
	})
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.unresolved, c.oldest, c.cases, c.emails, c.jobs, c.up} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.unresolved, prometheus.GaugeValue, float64(st.UnresolvedCheckouts))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestUnresolved.Seconds())
	for k, n := range st.OpenCases {
		ch <- prometheus.MustNewConstMetric(c.cases, prometheus.GaugeValue, float64(n), k)
	}
	for k, n := range st.Emails {
		ch <- prometheus.MustNewConstMetric(c.emails, prometheus.GaugeValue, float64(n), k)
	}
	for k, n := range st.Jobs {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), k)
	}
}
