// Package ws serves WebSocket: GET /v1/ws/{topic} is a plain socket on one
// topic (frames sent become messages, each message arrives as one frame
// whose data is the payload), and GET /v1/ws speaks streamhub's JSON
// protocol (package wsproto) over many filters.
package ws

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/ratelog"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/kit/idlepoll"
	"streamhub/internal/transport/kit/wsconn"
)

// Config tunes the WebSocket transport.
type Config struct {
	Queue        hub.QueueLimits
	WriteTimeout time.Duration
	MaxPayload   int
	PingInterval time.Duration
	Policy       *auth.Policy         // nil: open
	Admission    acceptloop.Admission // HTTP/2 streams' slots (httpx.AcquireConn), each socket's publish rate

	// Registry lists the connections for the admin API (nil: not listed).
	Registry *registry.Registry
	// EncodeCheck goes to every kit.Writer (nil in production).
	EncodeCheck kit.EncodeCheck
	// Idle parks idle connections' sockets (nil: each keeps a goroutine
	// waiting for input).
	Idle *idlepoll.Poller
}

// Close codes beyond RFC 6455's, in the private-use 4000 range.
const (
	CloseSlowConsumer ws.StatusCode = 4008
	CloseForbidden    ws.StatusCode = 4003
	CloseRateLimited  ws.StatusCode = 4029
	CloseKicked       ws.StatusCode = 4000
)

// CloseTryAgainLater is RFC 6455's 1013 (IANA registry), which gobwas/ws
// does not name: the server cannot take publishes now.
const CloseTryAgainLater ws.StatusCode = 1013

// Handler serves both WebSocket endpoints.
type Handler struct {
	hub kit.PubSub
	cfg Config
	log *slog.Logger
	// remote rate-limits what clients can cause at will (a writer's panic).
	remote *ratelog.Logger
	meter  kit.Meter
	// workers run the sockets' writers between bursts (kit.Workers).
	workers *kit.Workers
	// plainWriter and jsonWriter are what the writers of every plain and
	// every JSON-protocol socket share (newWriter), beats where they wait
	// for their pings.
	plainWriter, jsonWriter *kit.Writer
	beats                   *kit.Heartbeats
}

// New returns the WebSocket handler.
func New(h kit.PubSub, cfg Config, log *slog.Logger, meter kit.Meter) *Handler {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	hd := &Handler{hub: h, cfg: cfg, log: log, remote: ratelog.New(log, time.Second, 10), meter: meter,
		workers: kit.NewWorkers(writerIdle), beats: kit.NewHeartbeats(cfg.PingInterval)}
	hd.plainWriter = hd.newWriter(plainFrame)
	hd.jsonWriter = hd.newWriter(jsonFrame)
	return hd
}

// writerIdle is how long a writer's goroutine waits for another socket's
// burst before it ends.
const writerIdle = 100 * time.Millisecond

// errUnresponsive ends a socket whose peer stopped answering pings.
var errUnresponsive = errors.New("websocket peer unresponsive")

// newWriter is the writer every socket of one kind shares (kit.Writer,
// SpawnTo): frames of what frame says, each batch in one write, a ping
// every PingInterval (socketWriter.Heartbeat).
func (h *Handler) newWriter(frame func(hub.Delivery) (ws.OpCode, []byte)) *kit.Writer {
	return &kit.Writer{
		Workers: h.workers,
		Encode: func(buf []byte, d hub.Delivery) []byte {
			op, data := frame(d)
			return wsconn.AppendFrame(buf, op, data)
		},
		MaxWrite:       kit.BulkWrite,
		Check:          h.cfg.EncodeCheck,
		HeartbeatEvery: h.cfg.PingInterval,
		Heartbeats:     h.beats,
		Steady:         true, // the peer's pongs are what shows it alive
		Meter:          h.meter,
		Log:            h.remote,
	}
}

// socketWriter is a socket's side of its writer (kit.Output), part of
// each socket's own state: the writer runs only when there is something
// to send (an idle socket holds no writer goroutine); when the
// subscription ends it closes the socket with the close code of why.
type socketWriter struct {
	h      *Handler
	c      *wsconn.Conn
	feed   *hub.Subscription
	writer kit.Spawner
	ended  sync.WaitGroup // until Ended has run
}

// startWriter starts the socket's writer on the kind's shared Writer.
func (w *socketWriter) startWriter(wr *kit.Writer) {
	w.ended.Add(1)
	w.writer.Start(wr, w.feed, w)
}

// stopWriter ends the writer (the reader is done) and waits until it has.
func (w *socketWriter) stopWriter() {
	w.writer.Stop()
	w.ended.Wait()
}

func (w *socketWriter) Write(b []byte) error { return w.c.WriteEncoded(b) }

// TrySend sends a ping from the heartbeat wheel's walk when the socket
// takes it at once (kit's beatTrier).
func (w *socketWriter) TrySend(b []byte) (bool, error) { return w.c.TrySend(b) }

// Heartbeat pings, or ends a peer that stopped answering: a live peer
// answers each ping within the interval; one silent for a ping and a half
// has not answered the last.
func (w *socketWriter) Heartbeat() ([]byte, error) {
	if silent := w.c.SilentFor(time.Now()); silent > 3*w.h.cfg.PingInterval/2 {
		w.h.log.Debug("closing unresponsive websocket", "transport", "ws", "silent", silent)
		return nil, errUnresponsive
	}
	return wsconn.AppendFrame(nil, ws.OpPing, nil), nil
}

// Ended closes the socket as why the writer ended says.
func (w *socketWriter) Ended(err error) {
	defer w.ended.Done()
	c := w.c
	switch {
	case errors.Is(err, kit.ErrStopped):
	case err != w.feed.Err(): // a failed write or an unresponsive peer
		c.CloseNow()
	default:
		switch kit.EndOf(err) {
		case kit.EndShutdown:
			c.Close(ws.StatusGoingAway, "server shutting down")
		case kit.EndKicked:
			c.Close(CloseKicked, "disconnected by an administrator")
		case kit.EndSlowConsumer:
			w.h.log.Info("disconnected slow consumer", "transport", "ws")
			c.Close(CloseSlowConsumer, "slow consumer")
		default:
			c.Close(ws.StatusNormalClosure, "")
		}
	}
}

func (h *Handler) subscriber() httpx.Subscriber {
	return httpx.Subscriber{Hub: h.hub, Transport: "ws", Queue: h.cfg.Queue, Policy: h.cfg.Policy, Admission: h.cfg.Admission,
		Registry: h.cfg.Registry, Meter: h.meter}
}

// refuseWait bounds a refused socket's wait for the client's close answer.
const refuseWait = 5 * time.Second

// RefuseAfterUpgrade accepts the WebSocket upgrade of a request that no
// endpoint serves and closes the socket at once with 1008 and reason. A
// browser reports a refused upgrade as a bare failure (close code 1006, no
// reason, the response body out of the page's reach); the close event of an
// accepted socket carries the reason.
func RefuseAfterUpgrade(w http.ResponseWriter, r *http.Request, reason string) {
	nc, rw, _, err := ws.HTTPUpgrader{Timeout: refuseWait}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return
	}
	c := wsconn.New(nc, rw.Reader, refuseWait)
	defer c.CloseNow()
	c.Close(ws.StatusPolicyViolation, reason)
	for { // until the client answers the close, or refuseWait passes
		if _, _, err := c.Read(); err != nil {
			return
		}
	}
}

// accept upgrades the request, answering a refusal itself.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) (*wsconn.Conn, error) {
	return wsconn.Upgrade(w, r, wsconn.Options{WriteTimeout: h.cfg.WriteTimeout})
}
