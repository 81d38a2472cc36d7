package tcp

import (
	"context"
	"errors"
	"net"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/registry"
)

// dialer keeps one outgoing connection up, logging each state change once.
type dialer struct {
	s         *Server
	spec      Spec
	direction string // "in" or "out"
	backoff   time.Duration
	state     string
}

func (d *dialer) setState(state string, err error) {
	if state == d.state {
		return
	}
	d.state = state
	args := []any{"transport", "tcp-" + d.direction + "-dial", "addr", d.spec.Addr, "topics", d.spec.Topics}
	if err != nil {
		args = append(args, "err", err)
	}
	switch state {
	case "connected":
		d.s.log.Info("dial connected", args...)
	case "waiting":
		d.s.log.Warn("dial failed; retrying with backoff until the peer is up", args...)
	case "disconnected":
		d.s.log.Warn("dialled peer went away; reconnecting", args...)
	}
	if d.s.observe != nil {
		d.s.observe.DialState(d.direction, d.spec.Addr, state == "connected")
	}
}

// connect dials until it succeeds or ctx ends, with capped exponential backoff.
func (d *dialer) connect(ctx context.Context) (net.Conn, bool) {
	var nd net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := nd.DialContext(dctx, "tcp", d.spec.Addr)
		cancel()
		if err == nil {
			d.backoff = d.s.cfg.BackoffMin
			d.setState("connected", nil)
			return c, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		if d.state != "disconnected" {
			d.setState("waiting", err)
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(d.backoff):
		}
		d.backoff = min(2*d.backoff, d.s.cfg.BackoffMax)
	}
}

// connectTracked is connect for a connection the server tracks (closed at
// shutdown); false once ctx ends or the server is shutting down.
func (d *dialer) connectTracked(ctx context.Context) (net.Conn, bool) {
	c, ok := d.connect(ctx)
	if !ok {
		return nil, false
	}
	if !d.s.track(c) {
		c.Close()
		return nil, false
	}
	return c, true
}

func newDialer(s *Server, sp Spec, direction string) *dialer {
	return &dialer{s: s, spec: sp, direction: direction, backoff: s.cfg.BackoffMin}
}

// dialOut connects to a listening peer and writes every matching message
// to it. The subscription outlives connections: while the peer is away,
// messages wait in its bounded queue (oldest dropped and counted).
func (s *Server) dialOut(ctx context.Context, sp Spec, sub *hub.Subscription) {
	defer s.wg.Done()
	defer sub.Close()
	d := newDialer(s, sp, "out")
	meter := s.meter("tcp-out-dial")
	var pending []hub.Delivery
	for {
		c, ok := d.connectTracked(ctx)
		if !ok {
			return
		}
		done := meter.Connected()
		// Listed like every connection; a kick cuts it, and the dialler
		// connects again as when the peer goes away.
		unlist := s.cfg.Registry.Add(registry.Conn{Transport: "tcp-out-dial", Remote: c.RemoteAddr().String(), Queue: sub,
			Kick: func() { c.Close() }})
		cctx, cancel := context.WithCancel(ctx)
		go discardUntilClosed(c, cancel)
		rest, err := s.pump(cctx, c, sub, sp.Framing, pending, meter)
		cancel()
		unlist()
		done()
		s.untrack(c)
		pending = rest
		if errors.Is(err, hub.ErrShutdown) || ctx.Err() != nil {
			return
		}
		d.setState("disconnected", err)
	}
}

// dialIn connects to a listening peer and publishes what it sends.
func (s *Server) dialIn(ctx context.Context, sp Spec) {
	defer s.wg.Done()
	d := newDialer(s, sp, "in")
	for {
		c, ok := d.connectTracked(ctx)
		if !ok {
			return
		}
		done := s.meter("tcp-in-dial").Connected()
		s.serveIn(ctx, c, sp, "tcp-in-dial")
		done()
		s.untrack(c)
		if ctx.Err() != nil {
			return
		}
		d.setState("disconnected", nil)
	}
}
