package server

import "streamhub/internal/metrics"

// nodeMetrics registers the gauges the operations kit (deploy/) watches
// beside the transports' counters: readiness, media paths, the store.
func (s *Server) nodeMetrics() {
	n := metrics.Node{
		Ready: func() bool { return s.ready.Load() && (s.cluster == nil || s.cluster.Connected()) },
		MediaPaths: func() int {
			online := 0
			for _, p := range s.media.List() {
				if p.Online {
					online++
				}
			}
			return online
		},
	}
	if s.idle != nil {
		n.Parked = s.idle.Parked
	}
	if st := s.store; st != nil {
		n.StoreBytes = st.DiskSize
		n.Streams = func() []metrics.StreamSize {
			var out []metrics.StreamSize
			for _, ss := range st.Stats() {
				out = append(out, metrics.StreamSize{Filter: ss.Filter, Messages: ss.Messages, Bytes: ss.Bytes})
			}
			return out
		}
	}
	s.metrics.Node(n)
}
