// Package tcp serves raw TCP streams: listening ports whose connections'
// bytes become messages (-in) or receive messages (-out), the same two
// directions dialled out to programs that listen themselves (-in-dial,
// -out-dial, reconnecting with capped backoff), and the text protocol of
// package tcptext.
package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/codec/framing"
	"streamhub/internal/codec/tcptext"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/limit"
	"streamhub/internal/ratelog"
	"streamhub/internal/registry"
	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/acceptloop"
)

// Config lists the ports and their limits.
type Config struct {
	Text            string   // text protocol listen address; empty for none
	In, Out         []string // listening port specs
	InDial, OutDial []string // dialled port specs
	MaxPayload      int
	// Queue bounds each output connection's queue; DialQueue the messages
	// kept for an -out-dial peer while it is away (oldest dropped).
	Queue        hub.QueueLimits
	TextQueue    hub.QueueLimits
	DialQueue    int
	WriteTimeout time.Duration
	// Backoff bounds the delay between dial attempts.
	BackoffMin, BackoffMax time.Duration
	// Policy governs the text protocol (nil: open). Raw ports carry no
	// credentials: Networks, when set, limits which client addresses any
	// listening port accepts.
	Policy   *auth.Policy
	Networks []*net.IPNet
	// TLS, when set, wraps every listening port.
	TLS *tls.Config
	// Admit gives the admission of a listening port's connections, by
	// transport ("tcp-in", "tcp-out", "tcp-text"): limits, counts, accept
	// retries. nil admits everything and counts in the meter given to New.
	// Its Rate is the text protocol's publishes per second per connection.
	Admit func(transport string) acceptloop.Admission

	// Registry lists the connections for the admin API (nil: not listed).
	Registry *registry.Registry
	// EncodeCheck goes to every kit.Writer (nil in production).
	EncodeCheck kit.EncodeCheck
}

// Observer receives dial state changes for metrics.
type Observer interface {
	DialState(direction, addr string, connected bool)
}

// Server runs every raw TCP port.
type Server struct {
	hub     kit.PubSub
	cfg     Config
	log     *slog.Logger
	remote  *ratelog.Logger // what peers can cause at will: refusals, bad input
	meter   func(transport string) kit.Meter
	observe Observer

	in, out, inDial, outDial []Spec

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	textAddr  net.Addr
	textRate  limit.Rate // the text protocol's admission's, set by Start
}

// New validates the port specs.
func New(h kit.PubSub, cfg Config, log *slog.Logger, meter func(string) kit.Meter, observe Observer) (*Server, error) {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.DialQueue <= 0 {
		cfg.DialQueue = 1000
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 100 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = 5 * time.Second
	}
	s := &Server{hub: h, cfg: cfg, log: log, remote: ratelog.New(log, time.Second, 10), meter: meter, observe: observe,
		conns: make(map[net.Conn]struct{})}
	var errs []error
	parse := func(specs []string, input bool) []Spec {
		var out []Spec
		for _, raw := range specs {
			sp, err := ParseSpec(raw, input)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if sp.Max == 0 || sp.Max > cfg.MaxPayload {
				sp.Max = cfg.MaxPayload
			}
			out = append(out, sp)
		}
		return out
	}
	s.in, s.out = parse(cfg.In, true), parse(cfg.Out, false)
	s.inDial, s.outDial = parse(cfg.InDial, true), parse(cfg.OutDial, false)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Start opens every listening port and starts every dialler.
func (s *Server) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(ctx)
	listen := func(kind, addr string, serve func(context.Context, net.Conn)) (net.Addr, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("tcp: listen %s %s: %w", kind, addr, err)
		}
		a := s.admission(kind)
		if kind == "tcp-text" {
			s.textRate = a.Rate
		}
		ln = a.Listener(ln)
		if s.cfg.TLS != nil {
			ln = tlsconf.NewListener(ln, s.cfg.TLS)
		}
		s.mu.Lock()
		s.listeners = append(s.listeners, ln)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.acceptLoop(ctx, kind, ln, serve)
		return ln.Addr(), nil
	}
	for _, sp := range s.in {
		addr, err := listen("tcp-in", sp.Addr, func(ctx context.Context, c net.Conn) { s.serveIn(ctx, c, sp, "tcp-in") })
		if err != nil {
			return err
		}
		s.listening("tcp-in", sp, addr)
	}
	for _, sp := range s.out {
		addr, err := listen("tcp-out", sp.Addr, func(ctx context.Context, c net.Conn) { s.serveOut(ctx, c, sp) })
		if err != nil {
			return err
		}
		s.listening("tcp-out", sp, addr)
	}
	if s.cfg.Text != "" {
		addr, err := listen("tcp-text", s.cfg.Text, s.serveText)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.textAddr = addr
		s.mu.Unlock()
		s.log.Info("listening", "transport", "tcp-text", "addr", addr.String())
	}
	for _, sp := range s.inDial {
		s.wg.Add(1)
		go s.dialIn(ctx, sp)
	}
	for _, sp := range s.outDial {
		sub := s.hub.NewSubscription("tcp-out-dial", hub.QueueLimits{Messages: s.cfg.DialQueue,
			Bytes: max(s.cfg.Queue.Bytes, s.cfg.DialQueue*1024), Overflow: hub.DropOldest})
		if _, err := sub.Subscribe(sp.Topics, hub.StartFrom{}); err != nil {
			return fmt.Errorf("tcp: %s: %w", sp, err)
		}
		s.wg.Add(1)
		go s.dialOut(ctx, sp, sub)
	}
	return nil
}

func (s *Server) listening(kind string, sp Spec, addr net.Addr) {
	s.log.Info("listening", "transport", kind, "addr", addr.String(), "topics", sp.Topics, "framing", sp.Framing.String())
}

// TextAddr is the text protocol's bound address, or nil.
func (s *Server) TextAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.textAddr
}

func (s *Server) acceptLoop(ctx context.Context, kind string, ln net.Listener, serve func(context.Context, net.Conn)) {
	defer s.wg.Done()
	acceptloop.Run(ln, s.remote, kind, func(c net.Conn) {
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			serve(ctx, c)
		}()
	})
}

// admission is the listening port kind's: the server's limits and counts,
// the allowed networks, and the port's refusal (an -ERR line where the
// client reads them; a raw output's peer reads only its messages, so it
// is just closed).
func (s *Server) admission(kind string) acceptloop.Admission {
	var a acceptloop.Admission
	if s.cfg.Admit != nil {
		a = s.cfg.Admit(kind)
	} else {
		a = acceptloop.Admission{Transport: kind, Meter: s.meter(kind), Log: s.remote}
	}
	a.Allowed, a.TLS = s.allowed, s.cfg.TLS
	switch kind {
	case "tcp-text":
		a.Refuse = func(c net.Conn, err error) { c.Write(tcptext.AppendErr(nil, "too_many_connections", err.Error())) }
	case "tcp-in":
		a.Refuse = func(c net.Conn, err error) { fmt.Fprintf(c, "-ERR too_many_connections %v\n", err) }
	}
	return a
}

func (s *Server) allowed(addr net.Addr) bool {
	if len(s.cfg.Networks) == 0 {
		return true
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	for _, n := range s.cfg.Networks {
		if n.Contains(ta.IP) {
			return true
		}
	}
	return false
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// Close stops listening and dialling and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	conns := s.conns
	s.conns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	for c := range conns {
		c.Close()
	}
	s.wg.Wait()
}

// serveIn publishes each framed message of c to the spec's topic.
// Its connection is counted by whoever made it: the admission, or the
// dialler.
func (s *Server) serveIn(ctx context.Context, c net.Conn, sp Spec, kind string) {
	meter := s.meter(kind)
	defer s.cfg.Registry.Add(registry.Conn{Transport: kind, Remote: c.RemoteAddr().String(), Kick: func() { c.Close() }})()
	name := sp.Topics[0]
	dec := framing.NewDecoder(c, sp.Framing, sp.Max)
	for {
		p, err := dec.Next()
		if errors.Is(err, framing.ErrTooLong) {
			s.remote.Info("line too long, skipped", "port", sp.raw, "remote", c.RemoteAddr().String(), "limit", sp.Max)
			c.SetWriteDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "-ERR line_too_long %v\n", err)
			continue
		}
		if err != nil {
			if errors.Is(err, framing.ErrFrameTooLarge) {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				fmt.Fprintf(c, "-ERR frame_too_large %v\n", err)
				s.remote.Info("closing: frame too large", "port", sp.raw, "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		m := &message.Message{Topic: name, Payload: append([]byte(nil), p...), QoS: message.DefaultQoS}
		if _, err := s.hub.Publish(ctx, m); err != nil {
			s.log.Warn("publish failed", "port", sp.raw, "err", err)
			return
		}
		meter.Received(1)
	}
}

// serveOut writes every message matching the spec's filters to c.
func (s *Server) serveOut(ctx context.Context, c net.Conn, sp Spec) {
	meter := s.meter("tcp-out")
	// Counted by the listener's admission at accept: no Meter here.
	sub := kit.Open(kit.Opening{Hub: s.hub, Transport: "tcp-out", Queue: s.cfg.Queue, Registry: s.cfg.Registry, Remote: c.RemoteAddr().String()})
	defer sub.Close()
	// Raw ports carry no credentials: the port's topics, no policy.
	if _, err := sub.Subscription.Subscribe(sp.Topics, hub.StartFrom{}); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go discardUntilClosed(c, cancel)
	_, _ = s.pump(ctx, c, sub.Subscription, sp.Framing, nil, meter)
}

// discardUntilClosed reads and drops input so that a peer's close is noticed.
func discardUntilClosed(c net.Conn, done func()) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			done()
			return
		}
	}
}

// pump writes sub's messages framed by mode until ctx ends, sub ends or a
// write fails. pending is written first; on a failed write, the messages not
// yet written are returned so a dialler can send them on its next connection.
func (s *Server) pump(ctx context.Context, c net.Conn, sub *hub.Subscription, mode framing.Mode,
	pending []hub.Delivery, meter kit.Meter) ([]hub.Delivery, error) {
	w := kit.Writer{
		Encode: func(buf []byte, d hub.Delivery) []byte { return framing.Append(buf, mode, d.Msg.Payload) },
		Write: func(b []byte) error {
			_, err := c.Write(b)
			return err
		},
		SetWriteDeadline: c.SetWriteDeadline,
		WriteTimeout:     s.cfg.WriteTimeout,
		MaxWrite:         1 << 20, // so a failure loses little
		Meter:            meter,
		Log:              s.remote,
		Check:            s.cfg.EncodeCheck,
	}
	return w.Run(ctx, sub, pending)
}
