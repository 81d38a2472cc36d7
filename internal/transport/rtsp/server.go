// Package rtsp serves media paths over RTSP: cameras and ffmpeg publish
// with ANNOUNCE/RECORD (TCP or UDP), players read with DESCRIBE/PLAY.
// gortsplib speaks the protocol and RTP; this package maps sessions onto
// media paths and the one security policy.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"streamhub/internal/media"
	"streamhub/internal/ratelog"
	"streamhub/internal/transport/kit/acceptloop"
)

// Config configures the RTSP listener.
type Config = media.ListenerConfig

// Server is the RTSP listener.
type Server struct {
	cfg    Config
	paths  media.Paths
	log    *slog.Logger
	remote *ratelog.Logger
	rtsp   *gortsplib.Server

	mu      sync.Mutex
	streams map[string]*outStream // per path, shared by its RTSP readers
}

// New builds an RTSP server; Start listens.
func New(cfg Config, paths media.Paths, log *slog.Logger) *Server {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	log = log.With("transport", scheme(cfg))
	return &Server{cfg: cfg, paths: paths, log: log, remote: ratelog.New(log, time.Second, 10),
		streams: map[string]*outStream{}}
}

// Start listens on Addr (TCP) and, for RTP over UDP, on the first even
// port after it and the next, unless Addr is empty. With TLS (RTSPS) it
// listens on TCP only: RTP goes interleaved in the TLS connection.
func (s *Server) Start(context.Context) error {
	if s.cfg.Addr == "" {
		return nil
	}
	s.rtsp = s.newRTSP()
	if s.cfg.TLS != nil {
		if err := s.rtsp.Start(); err != nil {
			return fmt.Errorf("rtsps: listen %s: %w", s.cfg.Addr, err)
		}
		s.log.Info("listening", "addr", s.Addr(), "url", "rtsps://"+s.Addr()+"/PATH")
		return nil
	}
	host, port, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("rtsp: address %s: %w", s.cfg.Addr, err)
	}
	if p, _ := strconv.Atoi(port); p != 0 {
		// RTP takes an even port and RTCP the next: 8554 gives 8556 and 8557.
		rtp := p + 1
		if rtp%2 == 1 {
			rtp++
		}
		s.rtsp.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(rtp))
		s.rtsp.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(rtp+1))
		if err := s.rtsp.Start(); err != nil {
			return fmt.Errorf("rtsp: listen %s: %w", s.cfg.Addr, err)
		}
	} else if err := s.startOnFreeUDPPair(host); err != nil {
		return err
	}
	s.log.Info("listening", "addr", s.Addr(), "url", "rtsp://"+s.Addr()+"/PATH", "udp", s.rtsp.UDPRTPAddress)
	return nil
}

// listen is gortsplib's TCP listener, admitted by the server (limits,
// counts) with the handshake phase bounded by the configured timeout (see
// handshakeListener). Its Accept fails only once it is closed: gortsplib
// ends the whole server, UDP listeners included, on any accept error, so
// one accept that found no file descriptor would end RTSP for good.
func (s *Server) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	if s.cfg.Admit == nil {
		ln = acceptloop.Admission{Transport: "rtsp", Log: s.remote}.Listener(ln)
	}
	// TLS is ours, not gortsplib's (its TLSConfig): the handshake bound and
	// the tunnel filter read the requests in clear, and gortsplib serves
	// RTSP inside TLS as on plain TCP (RTSPS is TCP only: no UDP, so no
	// SRTP needed).
	return handshakeListener{Listener: s.cfg.Listener(ln, refuse), limit: s.cfg.Timeout}, nil
}

// newRTSP is gortsplib's server as this one configures it.
func (s *Server) newRTSP() *gortsplib.Server {
	return &gortsplib.Server{Handler: &handler{s: s}, RTSPAddress: s.cfg.Addr,
		ReadTimeout: s.cfg.Timeout, WriteTimeout: s.cfg.Timeout, Listen: s.listen}
}

// startOnFreeUDPPair starts RTSP with RTP over UDP on a free even/odd
// pair found by the kernel (port 0). The pair is free when found and
// bound only by Start, so another process may take a port in between:
// Start is then tried again on another pair.
func (s *Server) startOnFreeUDPPair(host string) error {
	var err error
	for range 5 {
		var rtp, rtcp string
		if rtp, rtcp, err = freeUDPPair(host); err != nil {
			return fmt.Errorf("rtsp: %w", err)
		}
		s.rtsp = s.newRTSP() // a failed Start leaves a server not to start again
		s.rtsp.UDPRTPAddress, s.rtsp.UDPRTCPAddress = rtp, rtcp
		if err = s.rtsp.Start(); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("rtsp: listen %s: %w", s.cfg.Addr, err)
	}
	return nil
}

// freeUDPPair finds two consecutive free UDP ports, RTP's even and RTCP's
// odd one, as RTSP clients expect.
func freeUDPPair(host string) (string, string, error) {
	for range 20 {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", "", err
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if p%2 == 1 {
			p-- // RTP's port is even: check it too, it was not the one found
		}
		if !udpFree(host, p) || !udpFree(host, p+1) {
			continue
		}
		return net.JoinHostPort(host, strconv.Itoa(p)), net.JoinHostPort(host, strconv.Itoa(p+1)), nil
	}
	return "", "", fmt.Errorf("no free UDP port pair on %s", host)
}

// udpFree says whether host:port can be bound for UDP now.
func udpFree(host string, port int) bool {
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Addr is the bound TCP address, or "" when disabled.
func (s *Server) Addr() string {
	if s.rtsp == nil {
		return ""
	}
	return s.rtsp.NetListener().Addr().String()
}

// Close stops listening and ends every session.
func (s *Server) Close() {
	if s.rtsp != nil {
		s.rtsp.Close()
	}
	s.mu.Lock()
	streams := s.streams
	s.streams = map[string]*outStream{}
	s.mu.Unlock()
	for _, st := range streams {
		st.stop()
	}
}

// scheme is the listener's URL scheme, which names it in logs too.
func scheme(cfg Config) string {
	if cfg.TLS != nil {
		return "rtsps"
	}
	return "rtsp"
}
