// Package server assembles streamhub: it builds the hub, mounts every
// transport on the HTTP listener, and runs and gracefully stops them.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/admin"
	"streamhub/internal/auth"
	"streamhub/internal/cluster"
	"streamhub/internal/config"
	"streamhub/internal/core/engine"
	"streamhub/internal/core/engine/local"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/store"
	"streamhub/internal/limit"
	"streamhub/internal/media"
	"streamhub/internal/media/record"
	"streamhub/internal/metrics"
	"streamhub/internal/ratelog"
	"streamhub/internal/registry"
	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/hls"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/kit/idlepoll"
	"streamhub/internal/transport/longpoll"
	"streamhub/internal/transport/mqtt"
	"streamhub/internal/transport/ndjson"
	"streamhub/internal/transport/publish"
	"streamhub/internal/transport/rtmp"
	"streamhub/internal/transport/rtsp"
	"streamhub/internal/transport/sse"
	"streamhub/internal/transport/tcp"
	"streamhub/internal/transport/webrtc"
	"streamhub/internal/transport/ws"
	"streamhub/internal/turn"
	"streamhub/internal/version"
	"streamhub/internal/webhook"
)

// Version is the server's version, reported in $SYS/broker/version; the
// command line's --version prints the same number.
var Version = version.Number()

// Server is one streamhub node.
type Server struct {
	cfg     config.Config
	policy  *auth.Policy
	conns   *limit.Conns
	rate    limit.Rate
	partial *limit.Budget // bytes of packets still arriving (MQTT, RTMP)
	// answering bounds the refusals being answered at once (admission.go).
	answering chan struct{}
	log       *slog.Logger
	cluster   *cluster.JetStream // nil on a single node
	remote    *ratelog.Logger    // what clients can cause at will: refusals, bad input
	hub       *hub.Hub
	metrics   *metrics.Metrics
	// registry lists every live connection; admin reads it.
	registry  *registry.Registry
	admin     *admin.API
	logins    *admin.Logins // dashboard sessions (cookie + CSRF token)
	stopAdmin context.CancelFunc
	// parts are what New built and Start starts, in order (components.go).
	parts components
	// encodeCheck goes to every transport's writer (WithEncodeCheck).
	encodeCheck kit.EncodeCheck
	// idle holds idle connections' sockets without a goroutine each (nil
	// where the system has no epoll: they keep one).
	idle *idlepoll.Poller

	store      *store.Store
	tcp        *tcp.Server
	mqtt       *mqtt.Server
	media      *media.Registry // media paths; their transports below (media.go)
	rtmp       *rtmp.Server
	rtsp       *rtsp.Server
	rtmps      *rtmp.Server // RTMP over TLS; its Start does nothing without rtmp.tlsaddr
	rtsps      *rtsp.Server // RTSP over TLS, likewise
	hls        *hls.Server
	recorder   *record.Recorder // nil unless media.record names paths (recording.go)
	webrtc     *webrtc.Server   // data channels (webrtc.go)
	turn       *turn.Server     // nil when turn.addr is empty (turn.go)
	webhooks   *webhook.Manager
	bridges    bridgeSet // to other MQTT brokers (bridges.go)
	httpServer *http.Server
	listener   net.Listener
	// httpDrained is closed once the HTTP server's graceful stop ended.
	httpDrained chan struct{}
	// longLived tracks handlers that outlive http.Server.Shutdown's idea of
	// a connection: hijacked WebSockets and never-idle streams.
	longLived sync.WaitGroup
	ready     atomic.Bool
	serveWG   sync.WaitGroup
}

// New builds a server from a validated configuration.
func New(cfg config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.Data != "" {
		if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
	}
	s := &Server{cfg: cfg, log: log, remote: ratelog.New(log, time.Second, 10), registry: registry.New(),
		answering: make(chan struct{}, maxAnswering)}
	for _, o := range opts {
		o(s)
	}
	var h *hub.Hub
	var err error
	s.metrics = metrics.New(func() hub.Stats { return h.Stats() })
	if s.policy, err = cfg.Policy(s.callbackObserver()); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	conns := limit.NewConns(cfg.Limits.Connections, cfg.Limits.Peraddress)
	s.conns, s.rate = conns, limit.NewRate(cfg.Limits.Rate)
	s.partial = limit.NewBudget(cfg.Limits.Partialbytes)
	var networks []*net.IPNet
	for _, n := range cfg.TCP.Networks {
		_, ipn, _ := net.ParseCIDR(n) // Validate checked it
		networks = append(networks, ipn)
	}
	if cfg.Data != "" {
		var streams []store.Stream
		for _, d := range cfg.StoreStreams() {
			streams = append(streams, store.Stream{Filter: d.Filter, Messages: d.Messages, Bytes: d.Bytes, Age: d.Age})
		}
		sc := store.Config{Dir: filepath.Join(cfg.Data, "store"), Streams: streams}
		if cfg.Durable.Sync == "interval" {
			sc.Interval = cfg.Durable.Interval
		}
		if s.store, err = store.Open(sc, log); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.parts.running("store", s.closeStore)
	}
	if len(cfg.Cluster.URLs) > 0 {
		if s.cluster, err = openCluster(cfg, log); err != nil {
			s.abort()
			return nil, err
		}
		s.parts.running("cluster", s.cluster.Close)
		c := s.cluster
		s.metrics.Cluster(cfg.Cluster.Node, func() metrics.ClusterState {
			st := c.Status()
			return metrics.ClusterState{Connected: st.Connected, Peers: st.Peers}
		})
	}
	var eng engine.Engine // nil: the local engine in memory
	switch {
	case s.cluster != nil:
		eng = s.cluster // the cluster stores messages and MQTT sessions
	case s.store != nil:
		eng = local.New(s.store, log)
	}
	if h, err = hub.New(cfg.HubConfig(), log, s.metrics, eng); err != nil {
		s.abort()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.hub = h
	s.parts.running("hub", h.Close)
	s.newIdlePoller()
	if err := s.newMedia(); err != nil {
		s.abort()
		return nil, err
	}
	if err := s.newRecording(); err != nil {
		s.abort()
		return nil, err
	}
	s.newWebRTC()
	if err := s.newTURN(); err != nil {
		s.abort()
		return nil, err
	}
	s.nodeMetrics()
	if err := s.newWebhooks(); err != nil {
		s.abort()
		return nil, err
	}
	if err := s.newBridges(); err != nil {
		s.abort()
		return nil, err
	}
	var tcpTLS *tls.Config
	if cfg.TCP.TLS {
		if tcpTLS, err = tlsconf.Config(cfg.HTTP.Cert, cfg.HTTP.Key, cfg.Auth.Clientca, log); err != nil {
			s.abort()
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	s.tcp, err = tcp.New(h, tcp.Config{
		Text: cfg.TCP.Addr, In: cfg.TCP.In, Out: cfg.TCP.Out, InDial: cfg.TCP.Indial, OutDial: cfg.TCP.Outdial,
		MaxPayload: cfg.Limits.Payload, Queue: cfg.QueueLimits(cfg.TCP.Policy), TextQueue: cfg.QueueLimits(cfg.TCP.Textpolicy),
		DialQueue: cfg.TCP.Dialqueue, WriteTimeout: cfg.TCP.Timeout, BackoffMax: cfg.TCP.Backoff,
		Policy: s.policy, Networks: networks, Admit: s.admission, TLS: tcpTLS, Registry: s.registry,
		EncodeCheck: s.encodeCheck,
	}, log, func(name string) kit.Meter { return s.metrics.Transport(name) }, s.metrics)
	if err != nil {
		s.abort()
		return nil, fmt.Errorf("server: %w", err)
	}
	mqttShared, err := mqttSessions(s.cluster, s.store)
	if err != nil {
		s.abort()
		return nil, err
	}
	mcert, mkey := cfg.MQTT.Cert, cfg.MQTT.Key
	if mcert == "" {
		mcert, mkey = cfg.HTTP.Cert, cfg.HTTP.Key
	}
	s.mqtt = mqtt.New(h, mqtt.Config{
		Addr: cfg.MQTT.Addr, TLSAddr: cfg.MQTT.Tlsaddr, Cert: mcert, Key: mkey, ClientCA: cfg.Auth.Clientca,
		MaxPacket: cfg.Limits.Payload + 64<<10, ReceiveMaximum: uint16(cfg.MQTT.Receivemax), Inflight: cfg.MQTT.Inflight,
		ConnectMax: cfg.MQTT.Connectmax, PacketTimeout: cfg.MQTT.Packettimeout, Partial: s.partial,
		TopicAliasMax: uint16(cfg.MQTT.Aliasmax), SessionExpiryMax: cfg.MQTT.Sessionexpiry,
		Queue:       hub.QueueLimits{Messages: cfg.MQTT.Queue, Bytes: cfg.MQTT.Queuebytes, Overflow: hub.DropOldest},
		Sessions:    mqttShared.Sessions,
		Nodes:       mqttShared.Nodes,
		Sharing:     mqttShared.Sharing,
		Policy:      s.policy,
		Admission:   s.admission("mqtt"),
		SysInterval: cfg.MQTT.Sys, KeepAliveMax: cfg.MQTT.Keepalive, WriteTimeout: cfg.MQTT.Writetimeout, Version: Version,
		ForeignClientID: cfg.MQTT.ForeignClientID, Registry: s.registry, Available: available(s.cluster), Idle: s.idle,
	}, log, s.metrics.Transport("mqtt"))
	s.admin = s.adminAPI()
	httpRate := s.admission("http").Rate
	s.httpServer = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		// Streaming handlers lift the read timeout off their requests
		// (httpx.AcquireConn); hijacked WebSockets leave it behind.
		ReadTimeout: cfg.HTTP.Readtimeout,
		IdleTimeout: cfg.HTTP.Idletimeout,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// Each connection gets its own publish rate limiter.
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return limit.WithLimiter(ctx, httpRate.Limiter())
		},
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if cfg.HTTP.Cert != "" {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	s.httpServer.Protocols = &protocols

	// What Start starts, in order; Shutdown stops them in reverse, after
	// the store, cluster, hub and media New built running above.
	s.parts.add("tcp", s.tcp)
	s.parts.add("mqtt", s.mqtt)
	s.parts.add("rtmp", s.rtmp)
	s.parts.add("rtsp", s.rtsp)
	s.parts.add("rtmps", s.rtmps)
	s.parts.add("rtsps", s.rtsps)
	s.parts.add("webrtc", s.webrtc)
	if s.turn != nil {
		s.parts.add("turn", s.turn)
	}
	s.parts.addFunc("http", s.startHTTP, s.drainHTTP)
	s.parts.addFunc("admin", s.startAdmin, func(context.Context) { s.stopAdmin() })
	return s, nil
}

// Hub returns the server's hub, for in-process publishers and tests.
func (s *Server) Hub() *hub.Hub { return s.hub }

func (s *Server) routes() http.Handler {
	cfg := s.cfg
	mux := http.NewServeMux()
	pub := publish.New(s.hub, cfg.Limits.Payload, s.metrics.Transport("http"), s.policy)
	mux.Handle("POST /v1/publish/{topic...}", pub)
	mux.Handle("POST /v1/publish", pub)
	// Without these the catch-all below would answer other methods 404.
	mux.Handle("/v1/publish/{topic...}", methodNotAllowed(http.MethodPost))
	mux.Handle("/v1/publish", methodNotAllowed(http.MethodPost))

	streaming := func(transport string, d config.Delivery) httpx.StreamConfig {
		return httpx.StreamConfig{Queue: cfg.QueueLimits(d.Policy), Heartbeat: d.Heartbeat, WriteTimeout: d.Timeout,
			Policy: s.policy, Admission: s.admission(transport), Registry: s.registry, EncodeCheck: s.encodeCheck, Idle: s.idle}
	}
	sseHandler := sse.New(s.hub, sse.Config{StreamConfig: streaming("sse", cfg.SSE)}, s.log, s.metrics.Transport("sse"))
	ndjsonHandler := ndjson.New(s.hub, streaming("ndjson", cfg.NDJSON), s.log, s.metrics.Transport("ndjson"))
	subscribe := s.tracked(negotiate(sseHandler, ndjsonHandler))
	mux.Handle("GET /v1/subscribe", subscribe)
	mux.Handle("GET /v1/poll", s.tracked(longpoll.New(s.hub, longpoll.Config{DefaultTimeout: cfg.Poll.Timeout,
		MaxTimeout: cfg.Poll.Maxtimeout, MaxMessages: cfg.Poll.Limit, Policy: s.policy, Admission: s.admission("longpoll"), Registry: s.registry,
		EncodeCheck: s.encodeCheck}, s.log, s.metrics.Transport("longpoll"))))

	wsHandler := ws.New(s.hub, ws.Config{Queue: cfg.QueueLimits(cfg.WS.Policy), WriteTimeout: cfg.WS.Timeout,
		MaxPayload: cfg.Limits.Payload, PingInterval: 2 * cfg.WS.Heartbeat, Policy: s.policy, Admission: s.admission("ws"),
		Registry: s.registry, EncodeCheck: s.encodeCheck, Idle: s.idle},
		s.log, s.metrics.Transport("ws"))
	mux.Handle("GET /v1/ws", s.tracked(http.HandlerFunc(wsHandler.ServeJSON)))
	plainWS := s.tracked(http.HandlerFunc(wsHandler.ServePlain))
	mux.Handle("GET /v1/ws/{topic...}", plainWS)
	mux.Handle("GET /mqtt", s.mqtt.WebSocketHandler())

	s.mediaRoutes(mux)
	s.recordingRoutes(mux)
	s.webrtcRoutes(mux)
	s.turnRoutes(mux)

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() || (s.cluster != nil && !s.cluster.Connected()) {
			httpx.WriteError(w, http.StatusServiceUnavailable, "not_ready", "not ready")
			return
		}
		httpx.WriteJSON(w, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", s.metrics.Handler())
	if cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.mountAdmin(mux)
	mountJSClient(mux)
	mux.HandleFunc("/", notFound)
	// One Origin check in front of every route: publish, subscribe, poll,
	// both WebSockets and MQTT over WebSocket alike.
	origins := httpx.NewOrigins(cfg.CORS.Origins)
	return cors(origins, origins.Check(s.authenticate(refuseUncleanPaths(s.fixedRoutes(mux, plainWS, subscribe, pub))), s.remote))
}

// negotiate picks SSE or NDJSON by ?format= or the Accept header; SSE is
// the default, as EventSource and most tools expect.
func negotiate(sseHandler, ndjson http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch format := r.URL.Query().Get("format"); {
		case format == "ndjson", format == "" && (httpx.Accepts(r, "application/x-ndjson") ||
			httpx.Accepts(r, "application/jsonl") || httpx.Accepts(r, "application/json")):
			ndjson.ServeHTTP(w, r)
		case format == "" || format == "sse":
			sseHandler.ServeHTTP(w, r)
		default:
			httpx.WriteError(w, http.StatusNotAcceptable, "unknown_format", "format must be sse or ndjson")
		}
	})
}

func (s *Server) tracked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.longLived.Add(1)
		defer s.longLived.Done()
		next.ServeHTTP(w, httpx.WithLongLived(r, &s.longLived))
	})
}

// Start starts the server's parts in order (New's list), each listener
// logging its address. If one fails, every part started before it, and
// those New built, are stopped in reverse order: the caller has nothing to
// shut down.
func (s *Server) Start(ctx context.Context) error {
	if err := s.parts.start(ctx); err != nil {
		return err
	}
	s.ready.Store(true)
	return nil
}

// abort stops what New built before it failed, in reverse order, so that
// a server that never started leaves no goroutine or socket behind.
func (s *Server) abort() {
	s.parts.stop(failed())
}

func (s *Server) closeStore() {
	if err := s.store.Close(); err != nil {
		s.log.Error("closing the store", "err", err)
	}
}

// MQTT returns the MQTT broker, for its bound addresses.
func (s *Server) MQTT() *mqtt.Server { return s.mqtt }

// TCP returns the raw TCP server, for its bound addresses.
func (s *Server) TCP() *tcp.Server { return s.tcp }

// Addr is the HTTP listener's address, once started.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Shutdown stops the server's parts in the reverse order of their start:
// HTTP stops accepting first and lets its requests finish while the rest
// stop, then the transports end their connections with their protocols'
// going-away signals, and the hub ends every subscription (SSE and NDJSON
// close events, WebSocket 1001, long polls answered). Requests still open
// when ctx ends are stalled clients (a body that stops arriving, a
// response nobody reads): their connections are cut, which is not a
// failure; it fails only if handlers still run once their connections are
// gone.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	s.parts.stop(ctx)
	if s.httpDrained != nil {
		<-s.httpDrained
	}
	done := make(chan struct{})
	go func() { s.longLived.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-time.After(handlerExitWait):
		err = errors.New("server: shutdown: handlers still running after their connections were closed")
	}
	s.serveWG.Wait()
	return err
}

// handlerExitWait is how long handlers get to return once their
// connections are closed: a write or read on a closed connection fails at
// once, so this is generous.
const handlerExitWait = 2 * time.Second
