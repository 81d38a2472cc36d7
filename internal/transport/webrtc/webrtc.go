// Package webrtc serves WebRTC data channels on POST /v1/webrtc: the client
// posts an SDP offer, gets the answer with every candidate gathered (no
// trickle), and each data channel it opens joins the topic namespace. A
// channel labelled "streamhub" speaks the JSON protocol of /v1/ws; a
// channel labelled with a topic is the plain WebSocket on that topic. Every
// peer shares one UDP port (pion's ICE UDP mux) and, optionally, one
// ICE-TCP port.
package webrtc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/ratelog"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/acceptloop"
)

// Config tunes the WebRTC transport.
type Config struct {
	// UDP is the one UDP address every peer's ICE runs on ("": none).
	UDP string
	// TCP is the ICE-TCP address, for networks that block UDP ("": none).
	TCP string
	// PublicIPs replace the host candidates' addresses behind a 1:1 NAT.
	PublicIPs []string
	// ICEServers (stun:, turn: URLs) are handed to clients in Link headers.
	ICEServers []string
	// Queue bounds each reliable channel's queue; unreliable channels
	// always drop their oldest message when full.
	Queue  hub.QueueLimits
	Policy *auth.Policy // nil: open
	// Admission gives each session a connection slot of the server's
	// limits, a session outliving the request that made it, and its
	// publish rate. Sessions bounds
	// the sessions (peer connections) in all and per client address,
	// whatever made them (webrtc.sessions, webrtc.peraddress). The zero
	// values admit everything.
	Admission, Sessions acceptloop.Admission
	// Registry lists the channels for the admin API (nil: not listed).
	Registry *registry.Registry
	// Paths are the media paths WHEP plays (nil: no WHEP).
	Paths Paths
	// EncodeCheck goes to every channel's kit.Writer (nil in production).
	EncodeCheck kit.EncodeCheck

	// disconnectedAfter and failedAfter override the ICE timeouts below
	// (tests of vanishing peers).
	disconnectedAfter, failedAfter time.Duration
}

// Timeouts of a peer connection's life.
const (
	// connectTimeout ends a session whose peer never completes ICE and DTLS.
	connectTimeout = 30 * time.Second
	// A vanished peer is reclaimed after iceFailed without connectivity.
	iceDisconnected = 5 * time.Second
	iceFailed       = 10 * time.Second
	iceKeepalive    = 2 * time.Second
)

// Server owns the ICE sockets and the live sessions.
type Server struct {
	hub   kit.PubSub
	cfg   Config
	log   *slog.Logger
	meter kit.Meter
	// remote logs what peers can cause at will: refusals, pion's warnings.
	remote *ratelog.Logger

	udp    net.PacketConn
	tcp    net.Listener
	udpMux ice.UDPMux // closed before udp, so its read loop ends quietly
	tcpMux ice.TCPMux
	api    *webrtc.API
	whip   *webrtc.API // H.264 and Opus only

	mu       sync.Mutex // guards sessions and closed; taken before a session's own
	sessions map[string]*session
	closed   bool
}

// New returns the transport; Start opens its sockets.
func New(h kit.PubSub, cfg Config, log *slog.Logger, meter kit.Meter) *Server {
	return &Server{hub: h, cfg: cfg, log: log, meter: meter, sessions: make(map[string]*session),
		remote: ratelog.New(log.With("transport", "webrtc"), time.Second, 10)}
}

// Start binds the ICE sockets and builds the WebRTC API on them.
func (s *Server) Start(context.Context) error {
	if s.cfg.UDP == "" && s.cfg.TCP == "" {
		return nil // disabled
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{s.remote}}
	se.SetICETimeouts(cmp.Or(s.cfg.disconnectedAfter, iceDisconnected), cmp.Or(s.cfg.failedAfter, iceFailed), iceKeepalive)
	// The offer's candidates of browsers are mDNS names; the peer's
	// connectivity checks reveal its address anyway (peer reflexive).
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	var networks []webrtc.NetworkType
	if s.cfg.UDP != "" {
		pc, err := net.ListenPacket("udp", s.cfg.UDP)
		if err != nil {
			return fmt.Errorf("webrtc: listen udp %s: %w", s.cfg.UDP, err)
		}
		s.udp = pc
		s.udpMux = webrtc.NewICEUDPMux(se.LoggerFactory.NewLogger("udpmux"), pc)
		se.SetICEUDPMux(s.udpMux)
		networks = append(networks, webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6)
	}
	if s.cfg.TCP != "" {
		ln, err := net.Listen("tcp", s.cfg.TCP)
		if err != nil {
			s.closeSockets()
			return fmt.Errorf("webrtc: listen tcp %s: %w", s.cfg.TCP, err)
		}
		s.tcp = ln
		s.tcpMux = webrtc.NewICETCPMux(se.LoggerFactory.NewLogger("tcpmux"), ln, 8)
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	if isLoopback(s.cfg.UDP) || isLoopback(s.cfg.TCP) {
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(s.cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: s.cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}); err != nil {
			s.closeSockets()
			return fmt.Errorf("webrtc: public addresses: %w", err)
		}
	}
	s.api = webrtc.NewAPI(webrtc.WithSettingEngine(se))
	whip, err := whipAPI(se)
	if err != nil {
		s.closeSockets()
		return fmt.Errorf("webrtc: WHIP codecs: %w", err)
	}
	s.whip = whip
	s.log.Info("listening", "transport", "webrtc", "udp", s.UDPAddr(), "tcp", s.TCPAddr())
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// UDPAddr is the bound ICE UDP address ("" when off).
func (s *Server) UDPAddr() string {
	if s.udp == nil {
		return ""
	}
	return s.udp.LocalAddr().String()
}

// TCPAddr is the bound ICE-TCP address ("" when off).
func (s *Server) TCPAddr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

// Close ends every session and closes the sockets.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.close()
	}
	s.closeSockets()
}

func (s *Server) closeSockets() {
	if s.udpMux != nil {
		_ = s.udpMux.Close()
	}
	if s.tcpMux != nil {
		_ = s.tcpMux.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
}

// errClosed refuses sessions during shutdown.
var errClosed = errors.New("webrtc: server shutting down")

func (s *Server) add(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.sessions[ss.id] = ss
	return nil
}

func (s *Server) remove(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

func (s *Server) lookup(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// Sessions is the number of live sessions (for tests and metrics).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
