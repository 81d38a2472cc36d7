package ws

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"golang.org/x/time/rate"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/quote"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/kit/wsconn"
)

// ServePlain serves GET /v1/ws/{topic...}: the path names the topic (or a
// filter, making the socket receive-only); more filters to receive can be
// added with ?topic=. Text frames carry UTF-8 payloads, binary frames the rest.
func (h *Handler) ServePlain(w http.ResponseWriter, r *http.Request) {
	// A copy: the path's value is cut from the request's line, which the
	// socket would keep alive for as long as it lives.
	name := strings.Clone(r.PathValue("topic"))
	filters := append([]string{name}, r.URL.Query()["topic"]...)
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_topic", err.Error())
			return
		}
	}
	from, err := httpx.StartFrom(r)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_cursor", err.Error())
		return
	}
	// Subscribing before the upgrade answers a refusal with an HTTP status
	// the client can read; what arrives meanwhile waits in the queue.
	s := &plainSocket{name: name, isFilter: topic.IsFilter(name)}
	start, ok := h.subscriber().SubscribeTo(w, r, kit.SubscribeRequest{Filters: filters, From: from}, &s.sub)
	if !ok {
		return
	}
	opts := wsconn.Options{WriteTimeout: h.cfg.WriteTimeout}
	if start.Gap {
		// A plain socket carries payloads only: the gap is told where
		// SSE and NDJSON tell it too, in a header of the answer.
		opts.Header = http.Header{"Streamhub-Gap": {"true"}}
	}
	c, err := wsconn.Upgrade(w, r, opts)
	if err != nil {
		s.sub.Close()
		return // Upgrade has answered.
	}
	c.SetReadLimit(int64(h.cfg.MaxPayload))
	// The socket is ours now: net/http's goroutine, whose stack grew deep on
	// the way here, ends once this returns; the socket's reader is a fresh
	// goroutine waiting for input (wsconn.Conn.Serve). What the socket may
	// do is decided now, so it keeps no context: the hub's publish reads
	// no identity, and each idle socket would hold one.
	s.mayPublish = h.cfg.Policy.CanPublish(auth.FromContext(r.Context()), name)
	h.servePlain(c, s)
}

// plainSocket is one plain socket being served, its subscriber in it.
type plainSocket struct {
	socketWriter
	sub        kit.Subscriber
	name       string
	isFilter   bool
	mayPublish bool
	limiter    *rate.Limiter
}

// servePlain runs plain socket s, subscribed, on c until either side
// ends it.
func (h *Handler) servePlain(c *wsconn.Conn, s *plainSocket) {
	s.socketWriter = socketWriter{h: h, c: c, feed: s.sub.Subscription}
	s.limiter = h.cfg.Admission.Rate.Limiter()
	s.startWriter(h.plainWriter)
	c.Serve(s, h.cfg.Idle)
}

// plainFrame is a delivery's frame on a plain socket: its payload, in a
// text frame when it is UTF-8.
func plainFrame(d hub.Delivery) (ws.OpCode, []byte) {
	if utf8.Valid(d.Msg.Payload) {
		return ws.OpText, d.Msg.Payload
	}
	return ws.OpBinary, d.Msg.Payload
}

// Message publishes a frame received. Refusals close the socket; reading
// goes on until the client answers the close.
func (s *plainSocket) Message(op ws.OpCode, data []byte) bool {
	switch {
	case s.isFilter:
		s.c.Close(ws.StatusPolicyViolation, "cannot publish to a filter")
	case !s.mayPublish:
		s.c.Close(CloseForbidden, "not allowed to publish to "+quote.Cut(s.name))
	case !limit.Allow(s.limiter):
		s.c.Close(CloseRateLimited, "publish rate limit exceeded")
	default:
		s.h.publishFrame(s.c, s.name, op, data)
	}
	return true
}

// End stops the writer and releases the socket.
func (s *plainSocket) End() {
	s.stopWriter()
	s.c.CloseNow()
	s.sub.Close()
}

// publishFrame publishes one received frame to topic name, closing the
// socket with the matching code when the hub refuses it.
func (h *Handler) publishFrame(c *wsconn.Conn, name string, op ws.OpCode, data []byte) {
	m := &message.Message{Topic: name, Payload: data, QoS: message.DefaultQoS}
	if op == ws.OpBinary {
		m.ContentType = "application/octet-stream"
	}
	if _, err := h.hub.Publish(context.Background(), m); err != nil {
		code := ws.StatusInternalServerError
		switch {
		case errors.Is(err, hub.ErrTooLarge):
			code = ws.StatusMessageTooBig
		case errors.Is(err, hub.ErrUnavailable):
			code = CloseTryAgainLater
		}
		c.Close(code, err.Error())
		return
	}
	h.meter.Received(1)
}
