// Package mqtt is streamhub's MQTT 3.1.1 and 5.0 broker, over TCP, TLS and
// WebSocket. It keeps MQTT's own state (sessions, QoS 1/2 flows, wills,
// topic aliases, shared subscriptions) and uses the hub for everything the
// protocols share: topics, retained messages and fan-out, so every MQTT
// topic is also reachable from SSE, WebSocket, long polling and raw TCP.
package mqtt

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/sessions"
	"streamhub/internal/limit"
	"streamhub/internal/ratelog"
	"streamhub/internal/registry"
	"streamhub/internal/tlsconf"
	"streamhub/internal/tlsconf/tls13rec"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/kit/idlepoll"
	"streamhub/internal/transport/kit/sockconn"
)

// Hub is what MQTT needs from the core.
type Hub interface {
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
	Epoch() string
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
	// PublishAsync carries QoS 1 and 2 publishes: the connection reads on
	// while they are stored (hub.Hub.PublishAsync).
	PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error))
	Stats() hub.Stats
	// ValidateName and ValidateFilter check a topic or filter the way
	// Publish and Subscribe will (the topic grammar, and what a cluster
	// can carry), for what is checked before either (a will, a $share).
	ValidateName(name string) error
	ValidateFilter(filter string) error
}

// Config tunes the broker.
type Config struct {
	Addr     string // TCP listener; empty for none
	TLSAddr  string // TLS listener, used when Cert and Key are set
	Cert     string
	Key      string
	ClientCA string // lets clients present certificates; the common name is the user
	// MaxPacket is the largest packet accepted, advertised to v5 clients.
	MaxPacket int
	// ConnectMax is the largest CONNECT accepted: what a client may make
	// the server hold before it has logged in.
	ConnectMax int
	// PacketTimeout is how long a packet may take to arrive once begun,
	// whatever the keep-alive (none, with keep-alive 0).
	PacketTimeout time.Duration
	// Partial bounds the memory of packets still arriving, over all
	// connections (nil: no bound).
	Partial *limit.Budget
	// ReceiveMaximum is how many unacknowledged QoS 2 publishes a client may
	// have in flight to the server, and how many QoS 1/2 publishes of one
	// connection may wait for the store before it stops reading (acks.go);
	// Inflight how many QoS 1/2 messages the
	// server sends before waiting for acknowledgements (lowered to the
	// client's receive maximum).
	ReceiveMaximum uint16
	Inflight       int
	TopicAliasMax  uint16
	// SessionExpiryMax caps how long a disconnected persistent session is
	// kept; a 3.1.1 clean-session=false session gets exactly this.
	SessionExpiryMax time.Duration
	// Queue bounds each session's queue, online and offline.
	Queue hub.QueueLimits
	// KeepAliveMax, when set, caps the keep-alive a client may ask for (a
	// client asking for none or more is told this one: MQTT 5's server
	// keep-alive; 3.1.1 clients are simply held to it).
	KeepAliveMax time.Duration
	SysInterval  time.Duration
	WriteTimeout time.Duration
	Version      string
	// Sessions keeps the session records (persist.go): the data
	// directory's, or a cluster's bucket shared by its nodes; nil keeps
	// them in memory, for the life of the process.
	Sessions sessions.Store
	// Nodes hands sessions over between the nodes of a cluster (nodes.go;
	// nil: a node alone), Sharing spreads $share groups over them
	// (groups.go; nil: this node's hub alone).
	Nodes   Nodes
	Sharing Sharing
	// Policy authenticates CONNECT and authorises publishes and
	// subscriptions (nil: open).
	Policy *auth.Policy
	// Admission admits the TCP and TLS listeners' connections (limits,
	// counts, accept retries) and gives every connection its publish rate;
	// MQTT adds its refusal, a CONNACK. The zero value admits everything.
	// WebSocket connections are admitted by the HTTP listener they arrive
	// on.
	Admission acceptloop.Admission
	// ForeignClientID is what a client gets whose client id names another
	// identity's session: ForeignSeparate (the default) or ForeignRefuse.
	ForeignClientID string
	// Registry lists the connections for the admin API (nil: not listed).
	Registry *registry.Registry
	// Idle parks idle connections' sockets (nil: each keeps a goroutine
	// waiting for input).
	Idle *idlepoll.Poller
	// Available, when set, says whether the hub can take publishes now (a
	// cluster node reaches NATS); a CONNECT while it cannot is refused
	// with "server unavailable".
	Available func() bool
}

// Server is the MQTT broker.
type Server struct {
	hub Hub
	cfg Config
	log *slog.Logger
	// remote logs what clients can cause at will (malformed packets,
	// refusals), rate-limited.
	remote *ratelog.Logger
	meter  kit.Meter

	// Lock order: s.mu before a session's mu, and before a shared group's mu.
	mu        sync.Mutex
	sessions  map[string]*session // by sessionKey
	clientIDs map[string]int      // sessions with an owner per client id (foreignLocked)
	groups    map[string]*sharedGroup
	// conns are the connections still handshaking; a connected one is
	// found through its session (Close), so that an idle connection
	// holds no entry here.
	conns     map[*conn]struct{}
	listeners []net.Listener
	closed    bool
	addrs     map[string]net.Addr

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	started  time.Time
	received atomic.Int64
	sent     atomic.Int64
	clientID atomic.Int64
	online   atomic.Int64
	closing  atomic.Bool // Close has begun: sessions no longer expire
	stopped  atomic.Bool // Close is done: the session store may be gone

	// nodes is Config.Nodes, or alone; announce: records name this node,
	// and cover connected sessions too (Nodes.Node).
	nodes    Nodes
	announce bool
	feeds    groupSource // opens the $share groups' feeds
	// stopHandovers ends the answers to other nodes' handover requests.
	stopHandovers func()

	// afterFunc starts the session timers (expiry, will delay):
	// time.AfterFunc, or a test's clock.
	afterFunc func(time.Duration, func()) timerHandle
}

// New returns a broker; Start opens its listeners.
func New(h Hub, cfg Config, log *slog.Logger, meter kit.Meter) *Server {
	if cfg.MaxPacket <= 0 {
		cfg.MaxPacket = 8<<20 + 64<<10
	}
	if cfg.ConnectMax <= 0 {
		cfg.ConnectMax = 64 << 10
	}
	if cfg.PacketTimeout <= 0 {
		cfg.PacketTimeout = 30 * time.Second
	}
	if cfg.ReceiveMaximum == 0 {
		cfg.ReceiveMaximum = 1024
	}
	if cfg.Inflight <= 0 {
		cfg.Inflight = 64
	}
	if cfg.TopicAliasMax == 0 {
		cfg.TopicAliasMax = 1024
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Queue.Messages <= 0 {
		cfg.Queue.Messages = 10000
	}
	cfg.Queue.Overflow = hub.DropOldest
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.ForeignClientID == "" {
		cfg.ForeignClientID = ForeignSeparate
	}
	if cfg.Sessions == nil {
		cfg.Sessions = sessions.NewMemory()
	}
	nodes := cfg.Nodes
	if nodes == nil {
		nodes = alone{}
	}
	s := &Server{hub: h, cfg: cfg, log: log, remote: ratelog.New(log, time.Second, 10), meter: meter, sessions: map[string]*session{},
		clientIDs: map[string]int{}, groups: map[string]*sharedGroup{}, conns: map[*conn]struct{}{},
		addrs: map[string]net.Addr{}, ctx: ctx, cancel: cancel, started: time.Now(), afterFunc: realAfterFunc,
		nodes: nodes, announce: nodes.Node() != ""}
	s.feeds = s.groupSource()
	return s
}

// Start opens the TCP and TLS listeners and the $SYS publisher.
func (s *Server) Start(context.Context) error {
	// Before the listeners: a client must find its stored session, and
	// another node may ask for a session at once.
	s.restoreSessions(s.hub.Epoch())
	stop, err := s.nodes.ServeHandovers(s.serveHandover)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	s.stopHandovers = stop
	if s.cfg.Addr != "" {
		if err := s.listen("mqtt", s.cfg.Addr, nil); err != nil {
			return err
		}
	}
	if s.cfg.Cert != "" && s.cfg.TLSAddr != "" {
		tc, err := tlsconf.Config(s.cfg.Cert, s.cfg.Key, s.cfg.ClientCA, s.log)
		if err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		if err := s.listen("mqtts", s.cfg.TLSAddr, tc); err != nil {
			return err
		}
	}
	if s.cfg.SysInterval > 0 {
		s.wg.Add(1)
		go s.publishSys()
	}
	s.wg.Add(1)
	go s.persistLoop()
	return nil
}

// persistLoop saves the cursors of persistent sessions that moved, so that
// a crash repeats at most a second's worth of QoS 1/2 deliveries.
func (s *Server) persistLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	// list is reused tick after tick: an idle server makes no garbage
	// here, which would otherwise grow its heap to the collector's goal.
	var list []*session
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		list = s.appendSessions(list[:0])
		for _, ss := range list {
			ss.mu.Lock()
			moved := ss.expiry > 0 && !ss.ended && !(message.Cursor{Epoch: ss.epoch(), Seq: ss.cursorLocked()}).Is(ss.saved)
			ss.mu.Unlock()
			if moved {
				ss.persist()
			}
		}
		clear(list) // no session kept alive until the next tick
	}
}

// listen serves kind ("mqtt", or "mqtts" with TLS) on addr, its
// connections admitted below TLS.
func (s *Server) listen(kind, addr string, tc *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mqtt: listen %s %s: %w", kind, addr, err)
	}
	a := s.cfg.Admission
	a.Transport, a.Refuse, a.TLS = kind, s.refuseOverLimits, tc
	// Connections are sockets of ours, under TLS too: parked, one holds
	// its descriptor alone (sockconn).
	ln = sockconn.Listen(ln)
	ln = a.Listener(ln)
	if tc != nil {
		// TLS 1.3 connections leave crypto/tls after the handshake, so
		// that an idle one keeps only its secrets (docs/IDLE.md).
		ln = tls13rec.NewListener(ln, tc)
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.addrs[kind] = ln.Addr()
	s.mu.Unlock()
	s.log.Info("listening", "transport", kind, "addr", ln.Addr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		acceptloop.Run(ln, s.remote, kind, func(nc net.Conn) {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.open(nc)
			}()
		})
	}()
	return nil
}

// Addr returns the bound address of the "mqtt" or "mqtts" listener.
func (s *Server) Addr(kind string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[kind]
}

// Close disconnects every client (v5: reason 0x8B, server shutting down)
// and stops the listeners. Sessions end with the process.
func (s *Server) Close() {
	s.closing.Store(true)
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.stopHandovers != nil {
		s.stopHandovers()
	}
	// Save where every persistent session stands before the connections go.
	for _, ss := range s.sessionList() {
		ss.persist()
		if c := ss.active.Load(); c != nil {
			conns = append(conns, c)
		}
	}
	for _, c := range conns {
		c.kick(codeShuttingDown)
	}
	s.cancel()
	s.wg.Wait()
	s.stopped.Store(true)
}

func (s *Server) nextClientID() string {
	return "streamhub-" + strconv.FormatInt(s.started.UnixNano()%1e9, 36) + "-" + strconv.FormatInt(s.clientID.Add(1), 36)
}

// publishSys publishes retained $SYS statistics like Mosquitto's.
func (s *Server) publishSys() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SysInterval)
	defer t.Stop()
	pub := func(name, value string) {
		m := &message.Message{Topic: "$SYS/broker/" + name, Payload: []byte(value), Retain: true}
		_, _ = s.hub.Publish(s.ctx, m)
	}
	pub("version", "streamhub "+s.cfg.Version)
	for {
		s.mu.Lock()
		sessions := len(s.sessions)
		s.mu.Unlock()
		clients := int(s.online.Load())
		st := s.hub.Stats()
		pub("uptime", strconv.FormatInt(int64(time.Since(s.started).Seconds()), 10)+" seconds")
		pub("clients/connected", strconv.Itoa(clients))
		pub("clients/total", strconv.Itoa(sessions))
		pub("messages/received", strconv.FormatInt(s.received.Load(), 10))
		pub("messages/sent", strconv.FormatInt(s.sent.Load(), 10))
		pub("subscriptions/count", strconv.Itoa(st.Filters))
		pub("retained messages/count", strconv.Itoa(st.Retained))
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sessionList is every session, copied under s.mu so that callers take
// each session's lock without holding the server's.
func (s *Server) sessionList() []*session { return s.appendSessions(nil) }

// appendSessions appends every session to dst, as sessionList does.
func (s *Server) appendSessions(dst []*session) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.AppendSeq(dst, maps.Values(s.sessions))
}
