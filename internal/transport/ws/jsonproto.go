package ws

import (
	"context"
	"net/http"

	"github.com/gobwas/ws"
	"golang.org/x/time/rate"

	"streamhub/internal/auth"
	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/kit/jsonproto"
	"streamhub/internal/transport/kit/wsconn"
)

// ServeJSON serves GET /v1/ws, the JSON protocol described in
// docs/PROTOCOLS.md. Bad requests get an error reply; the socket stays open.
func (h *Handler) ServeJSON(w http.ResponseWriter, r *http.Request) {
	release, ok := httpx.AcquireConn(w, r, h.cfg.Admission)
	if !ok {
		return
	}
	c, err := h.accept(w, r)
	if err != nil {
		release()
		return
	}
	// Base64 makes binary payloads 4/3 larger; leave room for the JSON around them.
	c.SetReadLimit(int64(h.cfg.MaxPayload)*4/3 + 64<<10)
	// As for plain sockets, net/http's goroutine ends here and a fresh one
	// waits for input. The socket keeps the request's identity alone:
	// the request's context (even with context.WithoutCancel) kept
	// net/http's chain of values and cancel contexts alive for as long
	// as the socket, about 1 KB per idle socket.
	h.serveJSON(requestIdentity(r), c, release)
}

// requestIdentity is the identity the request carries, or nil where it
// carries none: auth.FromContext then makes an anonymous one afresh on
// each call (so two calls differ), and a socket that kept it would hold
// 96 B for what identity() makes again when needed.
func requestIdentity(r *http.Request) *auth.Identity {
	id := auth.FromContext(r.Context())
	if id != auth.FromContext(r.Context()) {
		return nil
	}
	return id
}

// jsonSocket is one JSON-protocol socket being served.
type jsonSocket struct {
	socketWriter
	id      *auth.Identity // nil: anonymous (identity)
	sub     kit.Subscriber
	limiter *rate.Limiter
}

// identity is the socket's identity: the request's, or an anonymous one.
func (s *jsonSocket) identity() *auth.Identity {
	if s.id != nil {
		return s.id
	}
	return auth.FromContext(context.Background())
}

// serveJSON runs a JSON-protocol socket for identity id (nil: anonymous)
// until either side ends it, then calls release.
func (h *Handler) serveJSON(id *auth.Identity, c *wsconn.Conn, release func()) {
	s := &jsonSocket{id: id, limiter: h.cfg.Admission.Rate.Limiter()}
	s.sub.Open(kit.Opening{Hub: h.hub, Transport: "ws", Queue: h.cfg.Queue, Meter: h.meter, Registry: h.cfg.Registry,
		Identity: s.identity(), Remote: c.RemoteAddr().String()})
	s.sub.OnClose(release)
	s.socketWriter = socketWriter{h: h, c: c, feed: s.sub.Subscription}
	s.startWriter(h.jsonWriter)
	c.Serve(s, h.cfg.Idle)
}

// jsonFrame is a delivery's frame on a JSON-protocol socket: its envelope.
func jsonFrame(d hub.Delivery) (ws.OpCode, []byte) {
	return ws.OpText, envelope.Marshal(d.Msg, d.Retained)
}

// Message runs one request and answers it; a failed answer ends reading.
func (s *jsonSocket) Message(op ws.OpCode, data []byte) bool {
	rep := envelope.Control{Type: envelope.TypeError, Code: envelope.CodeBadRequest, Message: "the JSON protocol takes text frames"}
	if op == ws.OpText {
		// The context a request runs in: its identity, nothing to cancel.
		id := s.identity()
		ctx := auth.WithIdentity(context.Background(), id)
		rep = s.h.commands().Handle(ctx, id, s.limiter, s.sub.Subscription, data)
	}
	return s.c.WriteFrame(ws.OpText, rep.Encode()) == nil
}

// End stops the writer and releases the socket.
func (s *jsonSocket) End() {
	s.stopWriter()
	s.c.CloseNow()
	s.sub.Close()
}

// commands runs the JSON protocol's requests; a WebRTC "streamhub" data
// channel runs the same.
func (h *Handler) commands() jsonproto.Commands {
	return jsonproto.Commands{Hub: h.hub, Policy: h.cfg.Policy, Meter: h.meter}
}
