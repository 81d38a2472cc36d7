package server

import (
	"crypto/tls"
	"net"
	"streamhub/internal/transport/kit/acceptloop"
)

// admission is the one admission of transport's connections, whatever
// listener they arrive on: limits.connections and limits.peraddress shared
// by every transport, streamhub_connections{transport}, refusals logged
// rate-limited, accept errors retried, limits.rate for each connection's
// publishes. Each transport adds only how it
// refuses (its protocol's answer) and, for raw TCP, its allowed networks.
func (s *Server) admission(transport string) acceptloop.Admission {
	return acceptloop.Admission{Transport: transport, Conns: s.conns, Meter: s.metrics.Transport(transport), Log: s.remote,
		Rate: s.rate, Answering: s.answering}
}

// maxAnswering bounds the refused connections told why at once, over
// every listener (each for at most acceptloop.RefuseWait); past it they
// are closed without a word.
const maxAnswering = 256

// mediaAdmission is admission(transport) as a media listener takes it
// (media.ListenerConfig.Admit), with the transport's refusal, answered
// after the TLS handshake on a TLS listener (tc set).
func (s *Server) mediaAdmission(transport string, tc *tls.Config) func(net.Listener, func(net.Conn, error)) net.Listener {
	return func(ln net.Listener, refuse func(net.Conn, error)) net.Listener {
		a := s.admission(transport)
		a.Refuse, a.TLS = refuse, tc
		return a.Listener(ln)
	}
}
