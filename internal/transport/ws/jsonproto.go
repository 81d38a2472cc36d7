package ws

import (
	"context"
	"net/http"

	"github.com/gobwas/ws"

	"streamhub/internal/auth"
	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/kit/jsonproto"
	"streamhub/internal/transport/kit/wsconn"
)

// ServeJSON serves GET /v1/ws, the JSON protocol described in
// docs/PROTOCOLS.md. Bad requests get an error reply; the socket stays open.
func (h *Handler) ServeJSON(w http.ResponseWriter, r *http.Request) {
	release, ok := httpx.AcquireConn(w, r, h.cfg.Conns)
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
	// waits for input.
	h.serveJSON(socketContext(r), c, func() {
		c.CloseNow()
		release()
	})
}

// serveJSON runs a JSON-protocol socket until either side ends it, then
// calls release.
func (h *Handler) serveJSON(ctx context.Context, c *wsconn.Conn, release func()) {
	disconnected := h.meter.Connected()
	sub := h.hub.NewSubscription("ws", h.cfg.Queue)
	unlist := h.cfg.Registry.AddIdentity(auth.FromContext(ctx), "ws", c.RemoteAddr().String(), sub, sub.Kick)
	done := make(chan struct{})
	stop := h.pump(c, sub, func(d hub.Delivery) (ws.OpCode, []byte) {
		return ws.OpText, envelope.Marshal(d.Msg, d.Retained)
	}, done)
	limiter := h.cfg.Rate.Limiter()
	reply := func(rep envelope.Control) bool {
		return c.WriteFrame(ws.OpText, rep.Encode()) == nil
	}
	c.Serve(func(op ws.OpCode, data []byte) bool {
		if op != ws.OpText {
			return reply(envelope.Control{Type: envelope.TypeError, Code: envelope.CodeBadRequest, Message: "the JSON protocol takes text frames"})
		}
		return reply(h.commands().Handle(ctx, auth.FromContext(ctx), limiter, sub, data))
	}, func() {
		stop()
		<-done
		unlist()
		sub.Close()
		disconnected()
		release()
	})
}

// commands runs the JSON protocol's requests; a WebRTC "streamhub" data
// channel runs the same.
func (h *Handler) commands() jsonproto.Commands {
	return jsonproto.Commands{Hub: h.hub, Policy: h.cfg.Policy, Meter: h.meter}
}
