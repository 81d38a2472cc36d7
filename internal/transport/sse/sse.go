// Package sse serves subscriptions as Server-Sent Events: each event's data
// is the payload as published and its id the resume cursor, so a browser's
// EventSource gets exactly what was published and resumes with
// Last-Event-ID after a reconnect.
package sse

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/ratelog"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
)

// Config tunes the SSE transport.
type Config struct {
	httpx.StreamConfig
	// Retry is the reconnect delay the server asks EventSource to use.
	Retry time.Duration
}

// Handler serves GET /v1/subscribe for Accept: text/event-stream.
type Handler struct {
	hub kit.Subscriptions
	cfg Config
	log *slog.Logger
	// remote rate-limits what clients can cause at will (a writer's panic).
	remote *ratelog.Logger
	meter  kit.Meter
	// streams, by whether events are named after their topic
	// (?event=topic): what every stream shares.
	streams [2]*httpx.Stream
}

// New returns the SSE handler.
func New(h kit.Subscriptions, cfg Config, log *slog.Logger, meter kit.Meter) *Handler {
	hd := &Handler{hub: h, cfg: cfg, log: log, remote: ratelog.New(log, time.Second, 10), meter: meter}
	for i, topicEvent := range []bool{false, true} {
		wr := kit.Writer{WriteTimeout: cfg.WriteTimeout, Meter: meter, Log: hd.remote, Check: cfg.EncodeCheck,
			Encode: func(buf []byte, d hub.Delivery) []byte {
				if d.Retained {
					return AppendEvent(buf, d.Msg, false, topicEvent)
				}
				return append(buf, Event(d.Msg, topicEvent)...)
			}}
		hd.streams[i] = httpx.NewStream(wr, []byte(": ping\n\n"), cfg.Heartbeat, hd.closing, cfg.Idle)
	}
	return hd
}

// gapEvent tells the client that history it asked for is gone.
type gapEvent struct {
	Cursor string `json:"cursor"`
	Head   string `json:"head"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := httpx.SubscribeRequest(w, r)
	if !ok {
		return
	}
	stream := h.streams[0]
	if r.URL.Query().Get("event") == "topic" {
		stream = h.streams[1]
	}
	sub, start, ok := h.cfg.Subscriber(h.hub, "sse", h.meter).Subscribe(w, r, req)
	if !ok {
		return
	}
	defer sub.CloseUnlessServed()

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	if start.Gap {
		hdr.Set("Streamhub-Gap", "true")
	}
	stream.Serve(w, r, sub, h.opening(start))
}

// opening is the block that starts every stream: it sets the client's
// reconnect delay and its last event id (an id-only event updates
// EventSource.lastEventId without firing onmessage): the head for a fresh
// subscription or after a gap, so a reconnect resumes after what was live
// at subscribe time; where a replay starts otherwise, so a reconnect
// before the replay arrives asks for it again.
func (h *Handler) opening(start hub.Start) []byte {
	var open []byte
	retry := h.cfg.Retry
	if retry <= 0 {
		retry = 2 * time.Second
	}
	open = append(open, "retry: "...)
	open = append(open, []byte(durationMillis(retry))...)
	open = append(open, '\n')
	id := start.Head
	if start.After != nil && !start.Gap {
		id = *start.After
	}
	open = append(open, "id: "...)
	open = append(open, id.String()...)
	open = append(open, "\n\n"...)
	if start.Gap {
		data, _ := json.Marshal(gapEvent{Cursor: start.Asked(), Head: start.Head.String()})
		open = append(open, "event: gap\ndata: "...)
		open = append(open, data...)
		open = append(open, "\n\n"...)
	}
	return open
}

// closing is the event that tells the client why its stream ends.
func (h *Handler) closing(end kit.EndReason, remote string) []byte {
	if end == kit.EndSlowConsumer {
		h.log.Info("disconnected slow consumer", "transport", "sse", "remote", remote)
	}
	return []byte("event: close\ndata: {\"reason\":\"" + end.String() + "\"}\n\n")
}

func durationMillis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
