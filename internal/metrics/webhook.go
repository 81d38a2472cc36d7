package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WebhookState is one webhook as /metrics shows it.
type WebhookState struct {
	Name                                string
	Queued                              int
	Delivered, Failed, Retries, Dropped uint64
	// Oldest is when the event at the queue's head happened (zero: none).
	Oldest time.Time
}

// webhookCollector reads the hooks at each scrape: their counters live
// with their queues (internal/webhook).
type webhookCollector struct {
	states                                             func() []WebhookState
	queued, delivered, failed, retries, dropped, older *prometheus.Desc
}

// Webhooks adds the webhooks' metrics, labelled with each hook's name.
func (m *Metrics) Webhooks(states func() []WebhookState) {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"hook"}, nil)
	}
	m.reg.MustRegister(&webhookCollector{states: states,
		queued:    desc("streamhub_webhook_queued", "Webhook events waiting to be delivered."),
		delivered: desc("streamhub_webhook_delivered_total", "Webhook events the receiver took (2xx)."),
		failed:    desc("streamhub_webhook_failed_total", "Webhook attempts that failed (error, timeout or non-2xx answer)."),
		retries:   desc("streamhub_webhook_retries_total", "Webhook attempts after a failed one."),
		dropped:   desc("streamhub_webhook_dropped_total", "Webhook events never delivered: queue full or out of attempts."),
		older:     desc("streamhub_webhook_oldest_seconds", "Age of the webhook event being delivered (0: queue empty)."),
	})
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.delivered, c.failed, c.retries, c.dropped, c.older} {
		ch <- d
	}
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, st := range c.states() {
		age := 0.0
		if !st.Oldest.IsZero() {
			age = max(0, now.Sub(st.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.Queued), st.Name)
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(st.Delivered), st.Name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(st.Failed), st.Name)
		ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(st.Retries), st.Name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped), st.Name)
		ch <- prometheus.MustNewConstMetric(c.older, prometheus.GaugeValue, age, st.Name)
	}
}
