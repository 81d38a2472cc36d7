package metrics

import "github.com/prometheus/client_golang/prometheus"

// StreamSize is one durable stream's size.
type StreamSize struct {
	Filter   string
	Messages int
	Bytes    int64
}

// Node reads the node's state that dashboards and alert rules watch
// (deploy/): whether it is ready, its media paths and its store. A nil
// func leaves its metrics out (Store and Streams without a data directory).
type Node struct {
	Ready      func() bool
	MediaPaths func() int
	StoreBytes func() uint64
	Streams    func() []StreamSize
	// Parked counts connections waiting for input with no goroutine
	// (kit/idlepoll).
	Parked func() int64
}

// Node registers the node's gauges.
func (m *Metrics) Node(n Node) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	if n.Ready != nil {
		gauge("streamhub_ready", "1 while the node answers /readyz with 200 (started, and connected to NATS on a cluster), else 0.",
			func() float64 { return boolValue(n.Ready()) })
	}
	if n.MediaPaths != nil {
		gauge("streamhub_media_paths_online", "Media paths with a publisher.", func() float64 { return float64(n.MediaPaths()) })
	}
	if n.StoreBytes != nil {
		gauge("streamhub_store_disk_bytes", "Bytes the durable store takes on disk.", func() float64 { return float64(n.StoreBytes()) })
	}
	if n.Parked != nil {
		gauge("streamhub_connections_parked", "Idle connections waiting for input in the idle poller, with no goroutine of their own.",
			func() float64 { return float64(n.Parked()) })
	}
	if n.Streams != nil {
		m.reg.MustRegister(&streamCollector{streams: n.Streams,
			messages: prometheus.NewDesc("streamhub_store_stream_messages", "Messages kept by a durable stream.", []string{"stream"}, nil),
			bytes:    prometheus.NewDesc("streamhub_store_stream_bytes", "Bytes kept by a durable stream.", []string{"stream"}, nil),
		})
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type streamCollector struct {
	streams         func() []StreamSize
	messages, bytes *prometheus.Desc
}

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.bytes
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.streams() {
		ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(st.Messages), st.Filter)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes), st.Filter)
	}
}
