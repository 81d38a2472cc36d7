// Package ndjson serves subscriptions as newline-delimited JSON over a
// chunked HTTP response (Accept: application/x-ndjson): one envelope per
// line, readable by any HTTP client that can read a body line by line.
package ndjson

import (
	"log/slog"
	"net/http"
	"time"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/ratelog"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
)

// Config tunes the NDJSON transport.
type Config = httpx.StreamConfig

// Handler serves GET /v1/subscribe for Accept: application/x-ndjson.
type Handler struct {
	hub kit.Subscriptions
	cfg Config
	log *slog.Logger
	// remote rate-limits what clients can cause at will (a writer's panic).
	remote *ratelog.Logger
	meter  kit.Meter
	stream *httpx.Stream // what every stream shares
}

// New returns the NDJSON handler.
func New(h kit.Subscriptions, cfg Config, log *slog.Logger, meter kit.Meter) *Handler {
	hd := &Handler{hub: h, cfg: cfg, log: log, remote: ratelog.New(log, time.Second, 10), meter: meter}
	wr := kit.Writer{WriteTimeout: cfg.WriteTimeout, Meter: meter, Log: hd.remote, MaxWrite: kit.BulkWrite, Check: cfg.EncodeCheck,
		Encode: func(buf []byte, d hub.Delivery) []byte {
			return line(envelope.Append(buf, d.Msg, d.Retained))
		}}
	hd.stream = httpx.NewStream(wr, []byte("\n"), cfg.Heartbeat, hd.closing, cfg.Idle)
	return hd
}

// closing is the line that tells the client why its stream ends.
func (h *Handler) closing(end kit.EndReason, remote string) []byte {
	if end == kit.EndSlowConsumer {
		h.log.Info("disconnected slow consumer", "transport", "ndjson", "remote", remote)
	}
	return line(envelope.Control{Type: envelope.TypeClose, Reason: end.String()}.Encode())
}

func line(b []byte) []byte { return append(b, '\n') }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := httpx.SubscribeRequest(w, r)
	if !ok {
		return
	}
	sub, start, ok := h.cfg.Subscriber(h.hub, "ndjson", h.meter).Subscribe(w, r, req)
	if !ok {
		return
	}
	defer sub.CloseUnlessServed()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	if start.Gap {
		w.Header().Set("Streamhub-Gap", "true")
	}
	open := line(envelope.Control{Type: envelope.TypeSubscribed, Head: start.Head.String()}.Encode())
	if start.Gap {
		open = append(open, line(envelope.Control{
			Type: envelope.TypeGap, Cursor: start.Asked(), Head: start.Head.String()}.Encode())...)
	}
	h.stream.Serve(w, r, sub, open)
}
