// Package ndjson serves subscriptions as newline-delimited JSON over a
// chunked HTTP response (Accept: application/x-ndjson): one envelope per
// line, readable by any HTTP client that can read a body line by line.
package ndjson

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/limit"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
)

// Hub is what this transport needs from the core.
type Hub interface {
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
}

// Config tunes the NDJSON transport.
type Config struct {
	Queue        hub.QueueLimits
	Heartbeat    time.Duration
	WriteTimeout time.Duration
	Policy       *auth.Policy // nil: open
	Conns        *limit.Conns // nil: no connection limits
}

// Handler serves GET /v1/subscribe for Accept: application/x-ndjson.
type Handler struct {
	hub   Hub
	cfg   Config
	log   *slog.Logger
	meter kit.Meter
}

// New returns the NDJSON handler.
func New(h Hub, cfg Config, log *slog.Logger, meter kit.Meter) *Handler {
	return &Handler{hub: h, cfg: cfg, log: log, meter: meter}
}

func line(b []byte) []byte { return append(b, '\n') }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	filters, err := httpx.Filters(r)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_topic", err.Error())
		return
	}
	from, err := httpx.StartFrom(r)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_cursor", err.Error())
		return
	}
	release, ok := httpx.AcquireConn(w, r, h.cfg.Conns)
	if !ok {
		return
	}
	defer release()
	sub := h.hub.NewSubscription("ndjson", h.cfg.Queue)
	defer sub.Close()
	if !httpx.AuthorizeSubscribe(w, r, h.cfg.Policy, filters, sub) {
		return
	}
	start, err := sub.Subscribe(filters, from)
	if err != nil {
		httpx.WriteHubError(w, err)
		return
	}
	defer h.meter.Connected()()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	if start.Gap {
		w.Header().Set("Streamhub-Gap", "true")
	}
	w.WriteHeader(http.StatusOK)
	open := line(envelope.MarshalControl(envelope.Control{Type: envelope.TypeSubscribed, Head: start.Head.String()}))
	if start.Gap {
		open = append(open, line(envelope.MarshalControl(envelope.Control{
			Type: envelope.TypeGap, Cursor: from.After.String(), Head: start.Head.String()}))...)
	}
	if _, err := w.Write(open); err != nil {
		return
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	s := httpx.Stream{
		W: w,
		Encode: func(buf []byte, d hub.Delivery) []byte {
			return line(append(buf, envelope.Marshal(d.Msg, d.Retained)...))
		},
		Heartbeat:    []byte("\n"),
		Idle:         h.cfg.Heartbeat,
		WriteTimeout: h.cfg.WriteTimeout,
		Meter:        h.meter,
	}
	err = s.Pump(r.Context(), sub)
	var reason string
	switch {
	case errors.Is(err, hub.ErrShutdown):
		reason = "shutdown"
	case errors.Is(err, hub.ErrSlowConsumer):
		reason = "slow_consumer"
		h.log.Info("disconnected slow consumer", "transport", "ndjson", "remote", r.RemoteAddr)
	default:
		return
	}
	_, _ = w.Write(line(envelope.MarshalControl(envelope.Control{Type: envelope.TypeClose, Reason: reason})))
	_ = http.NewResponseController(w).Flush()
}
