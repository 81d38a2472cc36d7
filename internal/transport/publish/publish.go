// Package publish serves HTTP publishing: POST /v1/publish/{topic} (or
// POST /v1/publish?topic=T for topics a URL path cannot hold, such as ones
// with empty levels) with the payload as the body.
package publish

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/quote"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/httpx"
)

// MetaPrefix marks request headers carried as message headers:
// "Streamhub-Meta-Sensor: a" becomes the header sensor=a.
const MetaPrefix = "Streamhub-Meta-"

// Hub is what this transport needs from the core.
type Hub interface {
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
}

// Handler serves publishes.
type Handler struct {
	hub        Hub
	maxPayload int64
	meter      kit.Meter
	policy     *auth.Policy
}

// New returns the publish handler; a nil policy allows every publish.
func New(h Hub, maxPayload int, meter kit.Meter, policy *auth.Policy) *Handler {
	return &Handler{hub: h, maxPayload: int64(maxPayload), meter: meter, policy: policy}
}

// Result is the JSON answer to a publish.
type Result struct {
	Topic  string `json:"topic"`
	Cursor string `json:"cursor"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if name == "" {
		name = r.URL.Query().Get("topic")
	}
	if name == "" {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_topic", "topic required: POST /v1/publish/{topic} or ?topic=")
		return
	}
	if err := topic.ValidateName(name); err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_topic", err.Error())
		return
	}
	if !h.policy.CanPublish(auth.FromContext(r.Context()), name) {
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "not allowed to publish to "+quote.Cut(name))
		return
	}
	if !limit.Allow(limit.FromContext(r.Context())) {
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusTooManyRequests, "rate_limited", "publish rate limit of this connection exceeded")
		return
	}
	retain := false
	if v := r.URL.Query().Get("retain"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_retain", "retain must be true or false")
			return
		}
		retain = b
	}
	qos := uint8(message.DefaultQoS)
	if v := r.URL.Query().Get("qos"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 2 {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_qos", "qos must be 0, 1 or 2")
			return
		}
		qos = uint8(n)
	}
	if r.ContentLength > h.maxPayload {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
			"payload exceeds "+strconv.FormatInt(h.maxPayload, 10)+" bytes")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
				"payload exceeds "+strconv.FormatInt(h.maxPayload, 10)+" bytes")
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			httpx.WriteError(w, http.StatusRequestTimeout, "request_timeout",
				"the body did not arrive within http.readtimeout")
			return
		}
		httpx.WriteError(w, http.StatusBadRequest, "read_body", err.Error())
		return
	}
	m := &message.Message{Topic: name, Payload: body, ContentType: r.Header.Get("Content-Type"), Retain: retain, QoS: qos}
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		if key, ok := strings.CutPrefix(k, MetaPrefix); ok {
			for _, v := range r.Header[k] {
				m.Headers = append(m.Headers, message.Header{Key: strings.ToLower(key), Value: v})
			}
		}
	}
	cursor, err := h.hub.Publish(hub.PublishedBy(r.Context(), m, auth.FromContext(r.Context()).User), m)
	if err != nil {
		httpx.WriteHubError(w, err)
		return
	}
	h.meter.Received(1)
	httpx.WriteJSON(w, Result{Topic: name, Cursor: cursor.String()})
}
