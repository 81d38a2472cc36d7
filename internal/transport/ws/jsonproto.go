package ws

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gobwas/ws"
	"golang.org/x/time/rate"

	"streamhub/internal/auth"
	"streamhub/internal/codec/envelope"
	"streamhub/internal/codec/wsproto"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/limit"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
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
	// As for plain sockets, net/http's goroutine ends here; the context
	// keeps the identity, the request being over.
	ctx := context.WithoutCancel(r.Context())
	go func() {
		defer release()
		defer c.CloseNow()
		h.serveJSON(ctx, c)
	}()
}

// serveJSON runs a JSON-protocol socket until either side ends it.
func (h *Handler) serveJSON(ctx context.Context, c *wsconn.Conn) {
	defer h.meter.Connected()()
	sub := h.hub.NewSubscription("ws", h.cfg.Queue)
	defer sub.Close()
	defer h.cfg.Registry.AddIdentity(auth.FromContext(ctx), "ws", c.RemoteAddr().String(), sub, sub.Kick)()
	done := make(chan struct{})
	stop := h.pump(c, sub, func(d hub.Delivery) (ws.OpCode, []byte) {
		return ws.OpText, envelope.Marshal(d.Msg, d.Retained)
	}, done)
	limiter := h.cfg.Rate.Limiter()
	reply := func(rep envelope.Control) bool {
		return c.WriteFrame(ws.OpText, rep.Encode()) == nil
	}
	for {
		op, data, err := c.Read()
		if err != nil {
			break
		}
		if op != ws.OpText {
			if !reply(envelope.Control{Type: envelope.TypeError, Code: envelope.CodeBadRequest, Message: "the JSON protocol takes text frames"}) {
				break
			}
			continue
		}
		if !reply(h.handle(ctx, auth.FromContext(ctx), limiter, sub, data)) {
			break
		}
	}
	stop()
	<-done
}

func (h *Handler) handle(ctx context.Context, id *auth.Identity, limiter *rate.Limiter, sub *hub.Subscription, data []byte) envelope.Control {
	req, err := wsproto.Decode(data)
	if err != nil {
		id := ""
		if req != nil {
			id = req.ID
		}
		return envelope.Control{Type: envelope.TypeError, ID: id, Code: envelope.CodeBadRequest, Message: err.Error()}
	}
	switch req.Op {
	case wsproto.OpPublish:
		if !h.cfg.Policy.CanPublish(id, req.Topic) {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeForbidden, Message: "not allowed to publish to " + req.Topic}
		}
		if !limit.Allow(limiter) {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeRateLimited, Message: "publish rate limit exceeded"}
		}
		m, err := req.Message()
		if err != nil {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeBadRequest, Message: err.Error()}
		}
		cursor, err := h.hub.Publish(ctx, m)
		if err != nil {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodePublishFailed, Message: err.Error()}
		}
		h.meter.Received(1)
		return envelope.Control{Type: envelope.TypeAck, ID: req.ID, Cursor: cursor.String()}
	case wsproto.OpSubscribe:
		from := hub.StartFrom{Retained: req.Retained == nil || *req.Retained}
		switch {
		case req.Cursor != "":
			c, _ := message.ParseCursor(req.Cursor) // validated by Decode
			from = hub.StartFrom{After: &c}
		case req.From != "" || req.Last > 0:
			last := ""
			if req.Last > 0 {
				last = strconv.Itoa(req.Last)
			}
			var err error
			if from, err = hub.ParseStart(req.From, last); err != nil {
				return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeBadRequest, Message: err.Error()}
			}
		}
		start, err := kit.Subscribe(h.cfg.Policy, sub, kit.SubscribeRequest{Identity: id, Filters: req.Topics, From: from})
		if err != nil {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: subscribeErrorCode(err), Message: err.Error()}
		}
		return envelope.Control{Type: envelope.TypeSubscribed, ID: req.ID, Head: start.Head.String(), Gap: start.Gap}
	case wsproto.OpUnsubscribe:
		sub.Unsubscribe(req.Topics)
		return envelope.Control{Type: envelope.TypeUnsubscribed, ID: req.ID}
	default:
		return envelope.Control{Type: envelope.TypePong, ID: req.ID}
	}
}

func subscribeErrorCode(err error) string {
	switch {
	case kit.IsForbidden(err):
		return envelope.CodeForbidden
	case errors.Is(err, hub.ErrTooManySubscriptions):
		return envelope.CodeTooManySubscriptions
	}
	return envelope.CodeSubscribeFailed
}
