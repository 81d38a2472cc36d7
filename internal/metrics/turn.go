package metrics

import "github.com/prometheus/client_golang/prometheus"

// TURNState is the built-in TURN server's counters as /metrics shows them.
type TURNState struct {
	Allocations      int
	AllocationsTotal uint64
	Refused          uint64 // allocations over limits.turnallocations
	BytesFromPeers   uint64
	BytesToPeers     uint64
}

// turnCollector reads the TURN server's own counters at each scrape.
type turnCollector struct {
	state                func() TURNState
	live, total, refused *prometheus.Desc
	relayed              *prometheus.Desc
}

// TURN adds the TURN server's metrics: streamhub_turn_allocations (live),
// streamhub_turn_allocations_total, streamhub_turn_allocations_refused_total
// and streamhub_turn_relayed_bytes_total{direction}.
func (m *Metrics) TURN(state func() TURNState) {
	m.reg.MustRegister(&turnCollector{state: state,
		live:    prometheus.NewDesc("streamhub_turn_allocations", "Live TURN allocations (relays).", nil, nil),
		total:   prometheus.NewDesc("streamhub_turn_allocations_total", "TURN allocations made since start.", nil, nil),
		refused: prometheus.NewDesc("streamhub_turn_allocations_refused_total", "TURN allocations refused over limits.turnallocations.", nil, nil),
		relayed: prometheus.NewDesc("streamhub_turn_relayed_bytes_total",
			"Bytes relayed by TURN: to_peers from clients, from_peers towards clients.", []string{"direction"}, nil),
	})
}

func (c *turnCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.live
	ch <- c.total
	ch <- c.refused
	ch <- c.relayed
}

func (c *turnCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.state()
	ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(st.Allocations))
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(st.AllocationsTotal))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused))
	ch <- prometheus.MustNewConstMetric(c.relayed, prometheus.CounterValue, float64(st.BytesToPeers), "to_peers")
	ch <- prometheus.MustNewConstMetric(c.relayed, prometheus.CounterValue, float64(st.BytesFromPeers), "from_peers")
}
