// Package metrics exposes streamhub's Prometheus metrics (streamhub_*) and
// implements the counters that transports and the hub report to.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"streamhub/internal/core/hub"
)

// subscriberTransports are the names transports give their hub
// subscriptions (hub.NewSubscription), the label of the drop counters.
var subscriberTransports = []string{"mqtt", "mqtt-shared", "sse", "ndjson", "ws", "longpoll", "tcp-out", "tcp-out-dial", "tcp-text", "webrtc"}

// Metrics owns a registry; it is not global, so tests can run many servers.
type Metrics struct {
	reg         *prometheus.Registry
	connections *prometheus.GaugeVec
	refused     *prometheus.CounterVec
	received    *prometheus.CounterVec
	sent        *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	slow        *prometheus.CounterVec
	dial        *prometheus.GaugeVec
	// mediaSkipped counts frames slow media readers skipped (media.go).
	mediaSkipped *prometheus.CounterVec
	// authCallback counts the auth.http service's calls (auth.go).
	authCallback *authCallback
}

// New registers streamhub's metrics, with gauges read from h's stats.
func New(stats func() hub.Stats) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_connections", Help: "Open connections by transport."}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_connections_refused_total",
			Help: "Connections refused by the admission, by transport and by the limit they met: connections, peraddress, networks."},
			[]string{"transport", "reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_messages_in_total", Help: "Messages published, by transport they arrived on."}, []string{"transport"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_messages_out_total", Help: "Messages delivered, by transport."}, []string{"transport"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_messages_dropped_total", Help: "Messages dropped from full subscriber queues, by transport."}, []string{"transport"}),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_slow_consumer_disconnects_total", Help: "Subscribers disconnected because their queue was full."}, []string{"transport"}),
		dial: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_tcp_dial_connected", Help: "1 while a dialled raw TCP peer is connected, else 0."},
			[]string{"direction", "addr"}),
	}
	// Counters a dashboard or alert rule watches exist from the start at 0,
	// so that "no drops yet" reads as 0 rather than as no data.
	for _, t := range subscriberTransports {
		m.dropped.WithLabelValues(t)
		m.slow.WithLabelValues(t)
	}
	m.mediaSkipped = newMediaSkipped(m.reg)
	m.authCallback = newAuthCallback(m.reg)
	m.reg.MustRegister(m.connections, m.refused, m.received, m.sent, m.dropped, m.slow, m.dial,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func(hub.Stats) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(stats()) }))
	}
	gauge("streamhub_subscriptions", "Live subscriptions.", func(s hub.Stats) float64 { return float64(s.Subscriptions) })
	gauge("streamhub_retained_messages", "Retained messages held.", func(s hub.Stats) float64 { return float64(s.Retained) })
	gauge("streamhub_history_messages", "Messages in the in-memory history window.", func(s hub.Stats) float64 { return float64(s.History) })
	gauge("streamhub_history_bytes", "Approximate bytes in the history window.", func(s hub.Stats) float64 { return float64(s.HistoryBytes) })
	gauge("streamhub_queued_bytes", "Bytes of live messages waiting in every subscriber queue.", func(s hub.Stats) float64 { return float64(s.QueuedBytes) })
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Transport returns the counters of one transport.
func (m *Metrics) Transport(name string) *Transport {
	t := &Transport{
		name:     name,
		refused:  m.refused,
		conns:    m.connections.WithLabelValues(name),
		received: m.received.WithLabelValues(name),
		sent:     m.sent.WithLabelValues(name),
	}
	t.disconnected = t.conns.Dec
	return t
}

// Dropped implements hub.Observer.
func (m *Metrics) Dropped(transport string, n int) {
	m.dropped.WithLabelValues(transport).Add(float64(n))
}

// SlowConsumer implements hub.Observer.
func (m *Metrics) SlowConsumer(transport string) { m.slow.WithLabelValues(transport).Inc() }

var _ hub.Observer = (*Metrics)(nil)

// DialState records whether a dialled TCP peer is connected.
func (m *Metrics) DialState(direction, addr string, connected bool) {
	v := 0.0
	if connected {
		v = 1
	}
	m.dial.WithLabelValues(direction, addr).Set(v)
}

// Transport is one transport's counters, pre-resolved so the hot path does
// no label lookup.
type Transport struct {
	name     string
	refused  *prometheus.CounterVec
	conns    prometheus.Gauge
	received prometheus.Counter
	sent     prometheus.Counter
	// disconnected is conns.Dec, made once: a method value made on each
	// Connected would cost every connection 24 bytes for as long as it
	// lives.
	disconnected func()
}

// Connected counts an open connection until the returned func runs.
func (t *Transport) Connected() func() {
	t.conns.Inc()
	return t.disconnected
}

// Refused counts a connection the admission refused, by the limit it met.
func (t *Transport) Refused(reason string) { t.refused.WithLabelValues(t.name, reason).Inc() }

// Received counts published messages.
func (t *Transport) Received(n int) { t.received.Add(float64(n)) }

// Sent counts delivered messages.
func (t *Transport) Sent(n int) { t.sent.Add(float64(n)) }
