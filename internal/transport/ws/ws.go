// Package ws serves WebSocket: GET /v1/ws/{topic} is a plain socket on one
// topic (frames sent become messages, each message arrives as one frame
// whose data is the payload), and GET /v1/ws speaks streamhub's JSON
// protocol (package wsproto) over many filters.
package ws

import (
	"context"
	"log/slog"
	"time"

	"github.com/gobwas/ws"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/limit"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
)

// Hub is what this transport needs from the core.
type Hub interface {
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
}

// Config tunes the WebSocket transport.
type Config struct {
	Queue        hub.QueueLimits
	WriteTimeout time.Duration
	MaxPayload   int
	PingInterval time.Duration
	Policy       *auth.Policy // nil: open
	Conns        *limit.Conns // nil: no connection limits
	Rate         limit.Rate   // publishes per second per connection
}

// Close codes beyond RFC 6455's, in the private-use 4000 range.
const (
	CloseSlowConsumer ws.StatusCode = 4008
	CloseForbidden    ws.StatusCode = 4003
	CloseRateLimited  ws.StatusCode = 4029
)

// Handler serves both WebSocket endpoints.
type Handler struct {
	hub   Hub
	cfg   Config
	log   *slog.Logger
	meter kit.Meter
}

// New returns the WebSocket handler.
func New(h Hub, cfg Config, log *slog.Logger, meter kit.Meter) *Handler {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	return &Handler{hub: h, cfg: cfg, log: log, meter: meter}
}

// pump writes the subscription's messages as frames until it ends, each
// batch in one write. frame returns the opcode and data of one delivery.
func (h *Handler) pump(ctx context.Context, c *conn, sub *hub.Subscription,
	frame func(hub.Delivery) (ws.OpCode, []byte)) {
	var batch []hub.Delivery
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			// A live peer answers each ping within the interval; one
			// silent for a ping and a half has not answered the last.
			if c.silentFor(time.Now()) > 3*h.cfg.PingInterval/2 {
				h.log.Debug("closing unresponsive websocket", "transport", "ws", "silent", c.silentFor(time.Now()))
				c.closeNow()
				return
			}
			if c.writeFrame(ws.OpPing, nil) != nil {
				return
			}
		case <-sub.Done():
			switch kit.EndOf(sub.Err()) {
			case kit.EndShutdown:
				h.writeBatch(c, sub.Drain(batch), frame)
				c.close(ws.StatusGoingAway, "server shutting down")
			case kit.EndSlowConsumer:
				h.log.Info("disconnected slow consumer", "transport", "ws")
				c.close(CloseSlowConsumer, "slow consumer")
			default:
				c.close(ws.StatusNormalClosure, "")
			}
			return
		case <-sub.Ready():
			batch = sub.Drain(batch)
			if err := h.writeBatch(c, batch, frame); err != nil {
				c.closeNow()
				return
			}
			clear(batch)
		}
	}
}

func (h *Handler) writeBatch(c *conn, batch []hub.Delivery, frame func(hub.Delivery) (ws.OpCode, []byte)) error {
	if len(batch) == 0 {
		return nil
	}
	err := c.writeFrames(func(b []byte) []byte {
		for _, d := range batch {
			op, data := frame(d)
			b = appendFrame(b, op, data)
		}
		return b
	})
	if err == nil {
		h.meter.Sent(len(batch))
	}
	return err
}

func (h *Handler) subscriber() httpx.Subscriber {
	return httpx.Subscriber{Hub: h.hub, Transport: "ws", Queue: h.cfg.Queue, Policy: h.cfg.Policy, Conns: h.cfg.Conns}
}
