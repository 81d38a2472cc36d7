// Package rtmp serves media paths over RTMP: encoders (ffmpeg, OBS)
// publish to rtmp://host/live/cam1 and players read the same URL. The
// handshake, chunk stream and FLV tags are gortmplib's; this package maps
// them onto media paths and the one security policy.
package rtmp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"streamhub/internal/limit"
	"streamhub/internal/media"
	"streamhub/internal/ratelog"
	"streamhub/internal/transport/kit/acceptloop"
)

// Config configures the RTMP listener.
type Config struct {
	media.ListenerConfig
	// MaxMessage bounds one RTMP message (a frame, a command); a longer
	// one announced ends the connection. 0: DefaultMaxMessage.
	MaxMessage int
	// Partial bounds the bytes of messages still arriving, shared with
	// the other transports (nil: no bound).
	Partial *limit.Budget
}

// Server is the RTMP listener.
type Server struct {
	cfg    Config
	paths  media.Paths
	log    *slog.Logger
	remote *ratelog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

// New builds an RTMP server; Start listens.
func New(cfg Config, paths media.Paths, log *slog.Logger) *Server {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	log = log.With("transport", scheme(cfg))
	return &Server{cfg: cfg, paths: paths, log: log, remote: ratelog.New(log, time.Second, 10),
		ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

// Start listens, unless the address is empty.
func (s *Server) Start(context.Context) error {
	if s.cfg.Addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("%s: listen %s: %w", scheme(s.cfg), s.cfg.Addr, err)
	}
	s.ln = s.cfg.Listener(ln, nil) // RTMP has no way to say why before its handshake
	s.log.Info("listening", "addr", ln.Addr().String(), "url", scheme(s.cfg)+"://"+ln.Addr().String()+"/PATH")
	s.wg.Add(1)
	go s.accept()
	return nil
}

// Addr is the bound address, or "" when disabled.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *Server) accept() {
	defer s.wg.Done()
	acceptloop.Run(s.ln, s.remote, scheme(s.cfg), func(conn net.Conn) {
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(conn)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
		}()
	})
}

// Close stops listening, cuts every connection and waits for them.
func (s *Server) Close() {
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// scheme is the listener's URL scheme, which names it in logs too: rtmps
// is RTMP inside TLS (cfg.TLS), as ffmpeg and OBS speak it.
func scheme(cfg Config) string {
	if cfg.TLS != nil {
		return "rtmps"
	}
	return "rtmp"
}
