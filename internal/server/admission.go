package server

import "streamhub/internal/transport/kit/acceptloop"

// admission is the one admission of transport's connections, whatever
// listener they arrive on: limits.connections and limits.peraddress shared
// by every transport, streamhub_connections{transport}, refusals logged
// rate-limited, accept errors retried. Each transport adds only how it
// refuses (its protocol's answer) and, for raw TCP, its allowed networks.
func (s *Server) admission(transport string) acceptloop.Admission {
	return acceptloop.Admission{Transport: transport, Conns: s.conns, Meter: s.metrics.Transport(transport), Log: s.remote}
}
