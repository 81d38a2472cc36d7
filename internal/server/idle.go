package server

import (
	"errors"

	"streamhub/internal/transport/kit/idlepoll"
)

// newIdlePoller starts the poller that holds idle connections' sockets
// (docs/IDLE.md); it runs before every transport and stops after them.
// Where the system has none, connections keep a goroutine waiting each.
func (s *Server) newIdlePoller() {
	p, err := idlepoll.New(s.log)
	if err != nil {
		if !errors.Is(err, idlepoll.ErrUnsupported) {
			s.log.Warn("idle connections keep a goroutine each", "err", err)
		}
		return
	}
	s.idle = p
	s.parts.running("idlepoll", p.Close)
}
