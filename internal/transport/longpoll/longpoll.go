// Package longpoll serves GET /v1/poll: a request waits until messages
// matching its filters exist after its cursor (or a timeout passes) and
// returns them with the cursor for the next call, so a client polling in a
// loop misses nothing published between its polls, within the hub's history.
package longpoll

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/ratelog"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/kit/httpx"
)

// Config tunes long polling.
type Config struct {
	DefaultTimeout time.Duration
	MaxTimeout     time.Duration
	MaxMessages    int
	Policy         *auth.Policy         // nil: open
	Admission      acceptloop.Admission // HTTP/2 streams' slots (httpx.AcquireConn)

	// Registry lists the connections for the admin API (nil: not listed).
	Registry *registry.Registry
	// EncodeCheck goes to every kit.Writer (nil in production).
	EncodeCheck kit.EncodeCheck
}

// Handler serves long polls.
type Handler struct {
	hub   kit.Subscriptions
	cfg   Config
	meter kit.Meter
	// remote rate-limits what clients can cause at will (an encoder's panic).
	remote *ratelog.Logger
}

// New returns the long-poll handler.
func New(h kit.Subscriptions, cfg Config, log *slog.Logger, meter kit.Meter) *Handler {
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = 30 * time.Second
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 2 * time.Minute
	}
	// config.Validate refuses a maximum below the default; a caller that
	// skipped it gets the default as the maximum, never a larger one.
	cfg.MaxTimeout = max(cfg.MaxTimeout, cfg.DefaultTimeout)
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = 1000
	}
	return &Handler{hub: h, cfg: cfg, meter: meter, remote: ratelog.New(log, time.Second, 10)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	filters, err := httpx.Filters(r)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_topic", err.Error())
		return
	}
	q := r.URL.Query()
	timeout := h.cfg.DefaultTimeout
	if v := q.Get("timeout"); v != "" {
		if timeout, err = parseTimeout(v); err != nil || timeout < 0 {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_timeout", "timeout must be a duration like 30s")
			return
		}
		timeout = min(timeout, h.cfg.MaxTimeout)
	}
	limit := h.cfg.MaxMessages
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_limit", "limit must be a positive integer")
			return
		}
		limit = min(n, limit)
	}
	var from hub.StartFrom
	if v := q.Get("cursor"); v != "" {
		c, err := message.ParseCursor(v)
		if err != nil {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_cursor", err.Error())
			return
		}
		from.After = &c
	}

	// Unbounded by count: the backlog is bounded by history, and live
	// messages beyond the limit stay in history for the next poll.
	sub, start, ok := httpx.Subscriber{Hub: h.hub, Transport: "longpoll", Policy: h.cfg.Policy, Admission: h.cfg.Admission,
		Registry: h.cfg.Registry, Meter: h.meter,
		Queue: hub.QueueLimits{Messages: 1 << 30, Bytes: 1 << 30, Overflow: hub.DropOldest}}.
		Subscribe(w, r, kit.SubscribeRequest{Filters: filters, From: from})
	if !ok {
		return
	}
	defer sub.Close()
	var batch []hub.Delivery
	if timeout == 0 {
		batch = sub.Drain(nil)
	} else {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-sub.Ready():
			batch = sub.Drain(nil)
		case <-timer.C:
		case <-sub.Done():
		case <-r.Context().Done():
			return
		}
	}
	next := start.Head
	if start.After != nil && !start.Gap && start.After.Seq > next.Seq {
		next = *start.After
	}
	switch {
	case len(batch) > limit:
		batch = batch[:limit]
		next = batch[limit-1].Msg.Cursor()
	case len(batch) > 0 && (sub.Pending() || batch[len(batch)-1].Msg.Seq > next.Seq):
		// More is waiting (a stored history being paged in): continue
		// right after what this answer holds.
		next = batch[len(batch)-1].Msg.Cursor()
	}
	if start.Gap {
		w.Header().Set("Streamhub-Gap", "true")
	}
	w.Header().Set("Streamhub-Cursor", next.String())
	body := make([]byte, 0, 64)
	body = append(body, `{"cursor":`...)
	body, _ = appendJSONString(body, next.String())
	body = append(body, `,"gap":`...)
	body = strconv.AppendBool(body, start.Gap)
	body = append(body, `,"messages":[`...)
	body, err = h.encoder().AppendBatch(body, batch)
	if err != nil {
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "the answer could not be encoded")
		return
	}
	body = append(body, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
	h.meter.Sent(len(batch))
}

// encoder encodes a poll's messages, comma-separated, with the kit's
// writer: its recover turns a panic into an error for this poll alone.
func (h *Handler) encoder() *kit.Writer {
	return &kit.Writer{Meter: h.meter, Log: h.remote, Check: h.cfg.EncodeCheck, Encode: func(buf []byte, d hub.Delivery) []byte {
		if buf[len(buf)-1] != '[' {
			buf = append(buf, ',')
		}
		return append(buf, envelope.Marshal(d.Msg, false)...)
	}}
}

func parseTimeout(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

func appendJSONString(b []byte, s string) ([]byte, error) {
	enc, err := json.Marshal(s)
	return append(b, enc...), err
}
