// Package turn is streamhub's built-in STUN/TURN server (pion/turn), for
// browsers that signal through a room (docs/PROTOCOLS.md, WebRTC peer to
// peer) and need a relay to reach each other. It mints short-lived
// credentials in the TURN REST API scheme coturn uses, so that the HTTP
// API that checked an identity's rights hands out passwords the relay can
// verify without a shared store.
package turn

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API scheme is HMAC-SHA1 by definition
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	pturn "github.com/pion/turn/v5"

	"streamhub/internal/transport/kit/acceptloop"
)

// Config is a TURN server's configuration.
type Config struct {
	// Addr is the host:port it listens on, over UDP, and over TCP too
	// when TCP is set.
	Addr string
	TCP  bool
	// Relay is the IP announced for relayed addresses (XOR-RELAYED-ADDRESS);
	// RelayBind the one relay sockets bind to (Relay when empty).
	Relay     net.IP
	RelayBind string
	// MinPort and MaxPort bound the relay ports (inclusive).
	MinPort, MaxPort uint16
	Realm            string
	// Secret signs credentials; several nodes share it to accept each
	// other's.
	Secret []byte
	// TTL is how long minted credentials stay valid.
	TTL time.Duration
	// PublicOnly refuses permissions to peers on loopback, private,
	// link-local or unspecified addresses: a relay serving the internet
	// must not reach into the server's own networks.
	PublicOnly bool
	// PerIdentity bounds the allocations one identity holds at once; 0: no bound.
	PerIdentity int
	// Admission admits the TCP listener's connections.
	Admission acceptloop.Admission
}

// Credentials are what GET /v1/turn answers: a TURN REST API username
// (<expiry unix>:<identity>) and password (base64 HMAC-SHA1 of the
// username under the secret), their lifetime in seconds, and the URIs.
type Credentials struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	TTL      int      `json:"ttl"`
	URIs     []string `json:"uris"`
}

// Stats are the server's counters, as /metrics shows them.
type Stats struct {
	Allocations      int    // live
	AllocationsTotal uint64 // created since start
	Refused          uint64 // allocations refused by the per-identity bound
	BytesFromPeers   uint64 // relayed towards clients
	BytesToPeers     uint64 // relayed from clients
}

// Server is a STUN/TURN server; New builds it, Start binds its sockets.
type Server struct {
	cfg    Config
	log    *slog.Logger
	server *pturn.Server
	udp    net.PacketConn
	tcp    net.Listener

	mu      sync.Mutex
	holding map[string]int // live allocations by identity

	live               atomic.Int64
	total, refused     atomic.Uint64
	fromPeers, toPeers atomic.Uint64
}

// New checks cfg and builds a server that Start starts.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("turn: no secret")
	}
	if cfg.Relay == nil {
		return nil, errors.New("turn: no relay address")
	}
	if cfg.MinPort == 0 || cfg.MaxPort < cfg.MinPort {
		return nil, fmt.Errorf("turn: bad relay port range %d-%d", cfg.MinPort, cfg.MaxPort)
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = cfg.Relay.String()
	}
	return &Server{cfg: cfg, log: log, holding: map[string]int{}}, nil
}

// Start binds the UDP socket, and the TCP listener if configured, and
// starts serving.
func (s *Server) Start(context.Context) error {
	udp, tcp, err := s.listen()
	if err != nil {
		return err
	}
	relay := func() pturn.RelayAddressGenerator {
		return &countingRelay{RelayAddressGeneratorPortRange: &pturn.RelayAddressGeneratorPortRange{
			RelayAddress: s.cfg.Relay, Address: s.cfg.RelayBind, MinPort: s.cfg.MinPort, MaxPort: s.cfg.MaxPort,
		}, s: s}
	}
	permit := pturn.DefaultPermissionHandler
	if s.cfg.PublicOnly {
		permit = publicPeer
	}
	sc := pturn.ServerConfig{
		Realm:         s.cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quota,
		LoggerFactory: quietLogger{},
		EventHandler: pturn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, userID, _ string, _ net.Addr, _ int) { s.allocated(userID, 1) },
			OnAllocationDeleted: func(_, _ net.Addr, _, userID, _ string) { s.allocated(userID, -1) },
		},
		PacketConnConfigs: []pturn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: relay(), PermissionHandler: permit}},
	}
	if tcp != nil {
		sc.ListenerConfigs = []pturn.ListenerConfig{{Listener: s.cfg.Admission.Listener(tcp), RelayAddressGenerator: relay(), PermissionHandler: permit}}
	}
	server, err := pturn.NewServer(sc)
	if err != nil {
		udp.Close()
		if tcp != nil {
			tcp.Close()
		}
		return fmt.Errorf("turn: %w", err)
	}
	s.server, s.udp, s.tcp = server, udp, tcp
	s.log.Info("turn listening", "addr", udp.LocalAddr().String(), "tcp", tcp != nil, "relay", s.cfg.Relay.String(),
		"ports", fmt.Sprintf("%d-%d", s.cfg.MinPort, s.cfg.MaxPort))
	return nil
}

// listen binds the UDP socket and, when configured, a TCP listener on the
// same port, as coturn serves 3478 (one host:port in the URIs). With port
// 0 a free UDP port may be taken over TCP: another is tried.
func (s *Server) listen() (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(s.cfg.Addr)
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp", s.cfg.Addr)
		if err != nil {
			return nil, nil, fmt.Errorf("turn: listen udp: %w", err)
		}
		if !s.cfg.TCP {
			return udp, nil, nil
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || attempt == 9 {
			return nil, nil, fmt.Errorf("turn: listen tcp: %w", err)
		}
	}
}

// publicPeer is the PermissionHandler of a public relay: peers on the
// internet only.
func publicPeer(_ net.Addr, peer net.IP) bool {
	return !peer.IsLoopback() && !peer.IsPrivate() && !peer.IsLinkLocalUnicast() && !peer.IsUnspecified() &&
		!peer.IsMulticast() && !peer.IsInterfaceLocalMulticast()
}

// Close ends every allocation and closes the sockets.
func (s *Server) Close() {
	if s.server != nil {
		if err := s.server.Close(); err != nil {
			s.log.Debug("closing turn", "err", err)
		}
	}
}

// Addr is the address it listens on, once started.
func (s *Server) Addr() net.Addr { return s.udp.LocalAddr() }

// URIs are the turn: URIs clients use, by the listening port and the relay
// host (what a client reaches, where Addr may be 0.0.0.0).
func (s *Server) URIs() []string {
	_, port, _ := net.SplitHostPort(s.udp.LocalAddr().String())
	hostport := net.JoinHostPort(s.cfg.Relay.String(), port)
	uris := []string{"turn:" + hostport + "?transport=udp"}
	if s.tcp != nil {
		uris = append(uris, "turn:"+hostport+"?transport=tcp")
	}
	return uris
}

// Credentials mints identity's credentials, valid for the configured TTL
// from now but not after notAfter (the token that proved the identity
// expires then) unless it is zero.
func (s *Server) Credentials(identity string, now, notAfter time.Time) Credentials {
	expiry := now.Add(s.cfg.TTL)
	if !notAfter.IsZero() && notAfter.Before(expiry) {
		expiry = notAfter
	}
	username := strconv.FormatInt(expiry.Unix(), 10) + ":" + identity
	return Credentials{Username: username, Password: Password(s.cfg.Secret, username),
		TTL: max(0, int(expiry.Sub(now)/time.Second)), URIs: s.URIs()}
}

// Password is the TURN REST API password of username: base64 of
// HMAC-SHA1(secret, username).
func Password(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// identityOf splits a TURN REST API username into its expiry and identity.
func identityOf(username string) (expiry time.Time, identity string, ok bool) {
	exp, identity, ok := strings.Cut(username, ":")
	if !ok {
		return time.Time{}, "", false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(unix, 0), identity, true
}

// authenticate is the TURN server's AuthHandler: a username of our scheme,
// not expired, keyed by the password we would have minted for it. The
// identity becomes the allocation's user ID.
func (s *Server) authenticate(ra *pturn.RequestAttributes) (string, []byte, bool) {
	expiry, identity, ok := identityOf(ra.Username)
	if !ok || time.Now().After(expiry) {
		return "", nil, false
	}
	return identity, pturn.GenerateAuthKey(ra.Username, ra.Realm, Password(s.cfg.Secret, ra.Username)), true
}

// quota is the TURN server's QuotaHandler, given the user ID authenticate
// returned (the identity): an identity holds at most
// PerIdentity allocations. An allocation counts from OnAllocationCreated,
// so two racing requests may both pass: the bound is on what an identity
// keeps, not on a burst.
func (s *Server) quota(identity, _ string, _ net.Addr) bool {
	if s.cfg.PerIdentity <= 0 {
		return true
	}
	s.mu.Lock()
	ok := s.holding[identity] < s.cfg.PerIdentity
	s.mu.Unlock()
	if !ok {
		s.refused.Add(1)
	}
	return ok
}

func (s *Server) allocated(identity string, delta int) {
	s.mu.Lock()
	if n := s.holding[identity] + delta; n > 0 {
		s.holding[identity] = n
	} else {
		delete(s.holding, identity)
	}
	s.mu.Unlock()
	s.live.Add(int64(delta))
	if delta > 0 {
		s.total.Add(1)
	}
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	return Stats{Allocations: int(s.live.Load()), AllocationsTotal: s.total.Load(), Refused: s.refused.Load(),
		BytesFromPeers: s.fromPeers.Load(), BytesToPeers: s.toPeers.Load()}
}

// countingRelay hands out relay sockets that count the bytes they relay:
// pion/turn has no hook for relayed data, and the relay socket is where
// every relayed byte passes.
type countingRelay struct {
	*pturn.RelayAddressGeneratorPortRange
	s *Server
}

func (r *countingRelay) AllocatePacketConn(c pturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := r.RelayAddressGeneratorPortRange.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	return &countingConn{PacketConn: conn, s: r.s}, addr, nil
}

type countingConn struct {
	net.PacketConn
	s *Server
}

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	c.s.fromPeers.Add(uint64(n))
	return n, addr, err
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	c.s.toPeers.Add(uint64(n))
	return n, err
}

// quietLogger silences pion/turn, which logs a client's every bad request
// at warning level: refused credentials are a client's doing, not ours.
type quietLogger struct{}

func (quietLogger) NewLogger(string) logging.LeveledLogger {
	return logging.NewDefaultLeveledLoggerForScope("turn", logging.LogLevelDisabled, nil)
}
