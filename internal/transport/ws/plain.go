package ws

import (
	"context"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/gobwas/ws"

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
	name := r.PathValue("topic")
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
	sub, ok := h.subscriber().Subscribe(w, r, kit.SubscribeRequest{Filters: filters, From: from})
	if !ok {
		return
	}
	c, err := h.accept(w, r)
	if err != nil {
		sub.Close()
		return // accept has answered.
	}
	c.SetReadLimit(int64(h.cfg.MaxPayload))
	// The socket is ours now: serve it from a goroutine of its own and let
	// net/http's, whose stack grew deep on the way here, end.
	ctx := context.WithoutCancel(r.Context()) // keeps the identity; the request is over
	go func() {
		defer sub.Close()
		defer c.CloseNow()
		defer h.cfg.Registry.AddRequest(r, "ws", sub.Subscription, sub.Kick)()
		h.servePlain(ctx, c, sub.Subscription, name)
	}()
}

// servePlain runs a plain socket until either side ends it.
func (h *Handler) servePlain(ctx context.Context, c *wsconn.Conn, sub *hub.Subscription, name string) {
	defer h.meter.Connected()()
	done := make(chan struct{})
	stop := h.pump(c, sub, func(d hub.Delivery) (ws.OpCode, []byte) {
		if utf8.Valid(d.Msg.Payload) {
			return ws.OpText, d.Msg.Payload
		}
		return ws.OpBinary, d.Msg.Payload
	}, done)
	isFilter := topic.IsFilter(name)
	mayPublish := h.cfg.Policy.CanPublish(auth.FromContext(ctx), name)
	limiter := h.cfg.Rate.Limiter()
	for {
		op, data, err := c.Read()
		if err != nil {
			break
		}
		if isFilter {
			c.Close(ws.StatusPolicyViolation, "cannot publish to a filter")
			continue // until the client answers the close
		}
		if !mayPublish {
			c.Close(CloseForbidden, "not allowed to publish to "+quote.Cut(name))
			continue
		}
		if !limit.Allow(limiter) {
			c.Close(CloseRateLimited, "publish rate limit exceeded")
			continue
		}
		m := &message.Message{Topic: name, Payload: data, QoS: message.DefaultQoS}
		if op == ws.OpBinary {
			m.ContentType = "application/octet-stream"
		}
		if _, err := h.hub.Publish(ctx, m); err != nil {
			code := ws.StatusInternalServerError
			switch {
			case errors.Is(err, hub.ErrTooLarge):
				code = ws.StatusMessageTooBig
			case errors.Is(err, hub.ErrUnavailable):
				code = CloseTryAgainLater
			}
			c.Close(code, err.Error())
			continue
		}
		h.meter.Received(1)
	}
	stop()
	<-done
}
