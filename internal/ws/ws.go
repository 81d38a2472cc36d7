// Package ws serves WebSocket: GET /v1/ws/{topic} is a plain socket on one
// topic (frames sent become messages, each message arrives as one frame
// whose data is the payload), and GET /v1/ws speaks streamhub's JSON
// protocol (package wsproto) over many filters.
package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"streamhub/internal/auth"
	"streamhub/internal/httpx"
	"streamhub/internal/hub"
	"streamhub/internal/limit"
	"streamhub/internal/message"
)

// Hub is what this transport needs from the core.
type Hub interface {
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
}

// Config tunes the WebSocket transport.
type Config struct {
	Queue          hub.QueueLimits
	WriteTimeout   time.Duration
	MaxPayload     int
	OriginPatterns []string // host patterns allowed as Origin; "*" allows any
	PingInterval   time.Duration
	Policy         *auth.Policy // nil: open
	Conns          *limit.Conns // nil: no connection limits
	Rate           limit.Rate   // publishes per second per connection
}

// Close codes beyond RFC 6455's, in the private-use 4000 range.
const (
	CloseSlowConsumer websocket.StatusCode = 4008
	CloseForbidden    websocket.StatusCode = 4003
	CloseRateLimited  websocket.StatusCode = 4029
)

// Handler serves both WebSocket endpoints.
type Handler struct {
	hub   Hub
	cfg   Config
	log   *slog.Logger
	meter httpx.Meter
}

// New returns the WebSocket handler.
func New(h Hub, cfg Config, log *slog.Logger, meter httpx.Meter) *Handler {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	return &Handler{hub: h, cfg: cfg, log: log, meter: meter}
}

func (h *Handler) accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	opts := &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns}
	for _, p := range h.cfg.OriginPatterns {
		if p == "*" {
			opts.InsecureSkipVerify = true
		}
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// pump writes the subscription's messages as frames until it ends. frame
// returns the type and data of one delivery.
func (h *Handler) pump(ctx context.Context, c *websocket.Conn, sub *hub.Subscription,
	frame func(hub.Delivery) (websocket.MessageType, []byte)) {
	var batch []hub.Delivery
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case <-sub.Done():
			err := sub.Err()
			switch {
			case errors.Is(err, hub.ErrShutdown):
				h.writeBatch(ctx, c, sub.Drain(batch), frame)
				c.Close(websocket.StatusGoingAway, "server shutting down")
			case errors.Is(err, hub.ErrSlowConsumer):
				h.log.Info("disconnected slow consumer", "transport", "ws")
				c.Close(CloseSlowConsumer, "slow consumer")
			}
			return
		case <-sub.Ready():
			batch = sub.Drain(batch)
			if err := h.writeBatch(ctx, c, batch, frame); err != nil {
				c.CloseNow()
				return
			}
			clear(batch)
		}
	}
}

func (h *Handler) writeBatch(ctx context.Context, c *websocket.Conn, batch []hub.Delivery,
	frame func(hub.Delivery) (websocket.MessageType, []byte)) error {
	if len(batch) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
	defer cancel()
	for _, d := range batch {
		typ, data := frame(d)
		if err := c.Write(wctx, typ, data); err != nil {
			return err
		}
	}
	h.meter.Sent(len(batch))
	return nil
}
