package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClusterState is a cluster node's NATS connection as /metrics shows it.
type ClusterState struct {
	Connected bool
	Peers     []string // NATS server URLs known to the node
}

// clusterCollector reads the state at each scrape: the peer set changes
// as NATS servers are discovered, which fixed gauges cannot follow.
type clusterCollector struct {
	state     func() ClusterState
	connected *prometheus.Desc
	peer      *prometheus.Desc
}

// Cluster adds a cluster node's metrics: streamhub_cluster_nats_connected
// and one streamhub_cluster_peer per NATS server, labelled with the node.
func (m *Metrics) Cluster(node string, state func() ClusterState) {
	labels := prometheus.Labels{"node": node}
	m.reg.MustRegister(&clusterCollector{state: state,
		connected: prometheus.NewDesc("streamhub_cluster_nats_connected", "1 while this cluster node is connected to NATS, else 0.", nil, labels),
		peer:      prometheus.NewDesc("streamhub_cluster_peer", "1 for each NATS server of the cluster this node knows.", []string{"url"}, labels),
	})
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connected
	ch <- c.peer
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.state()
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, connected)
	for _, url := range st.Peers {
		ch <- prometheus.MustNewConstMetric(c.peer, prometheus.GaugeValue, 1, url)
	}
}
