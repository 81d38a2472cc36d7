package metrics

import "github.com/prometheus/client_golang/prometheus"

// BridgeState is one MQTT bridge as /metrics shows it.
type BridgeState struct {
	Name             string
	Up               bool
	In, Out, Dropped uint64
	Reconnects       uint64
	Queued           int
}

// bridgeCollector reads the bridges' state at each scrape.
type bridgeCollector struct {
	state                                    func() []BridgeState
	up, in, out, queued, dropped, reconnects *prometheus.Desc
}

// Bridges adds the metrics of the MQTT bridges, one series per bridge
// labelled bridge: streamhub_bridge_up, streamhub_bridge_messages_in_total
// and _out_total, streamhub_bridge_queued, streamhub_bridge_dropped_total,
// streamhub_bridge_reconnects_total.
func (m *Metrics) Bridges(state func() []BridgeState) {
	label := []string{"bridge"}
	m.reg.MustRegister(&bridgeCollector{state: state,
		up:         prometheus.NewDesc("streamhub_bridge_up", "1 while the bridge is connected to its remote broker, else 0.", label, nil),
		in:         prometheus.NewDesc("streamhub_bridge_messages_in_total", "Messages the bridge received from its remote broker and published here.", label, nil),
		out:        prometheus.NewDesc("streamhub_bridge_messages_out_total", "Messages the bridge sent to its remote broker (acknowledged at QoS 1 and 2).", label, nil),
		queued:     prometheus.NewDesc("streamhub_bridge_queued", "Outgoing messages the bridge holds in memory, unsent or unacknowledged.", label, nil),
		dropped:    prometheus.NewDesc("streamhub_bridge_dropped_total", "Messages the bridge dropped: outgoing ones its full queue discarded or the remote refused, incoming ones the hub refused.", label, nil),
		reconnects: prometheus.NewDesc("streamhub_bridge_reconnects_total", "Times the bridge connected again after losing its remote broker.", label, nil),
	})
}

func (c *bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.in, c.out, c.queued, c.dropped, c.reconnects} {
		ch <- d
	}
}

func (c *bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.state() {
		up := 0.0
		if b.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, b.Name)
		ch <- prometheus.MustNewConstMetric(c.in, prometheus.CounterValue, float64(b.In), b.Name)
		ch <- prometheus.MustNewConstMetric(c.out, prometheus.CounterValue, float64(b.Out), b.Name)
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(b.Queued), b.Name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(b.Dropped), b.Name)
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(b.Reconnects), b.Name)
	}
}
