package server

import "streamhub/internal/transport/kit"

// Option changes what New builds beyond what the configuration says; a
// server a user runs takes none.
type Option func(*Server)

// WithEncodeCheck hands check to the writer of every subscribing
// transport, to see each delivery before it is encoded:
// TestTransportConformance makes one message's encoding panic with it.
func WithEncodeCheck(check kit.EncodeCheck) Option {
	return func(s *Server) { s.encodeCheck = check }
}
