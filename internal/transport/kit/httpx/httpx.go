// Package httpx holds what the HTTP-family transports share: JSON error
// bodies, parsing of topic filters and starting points from a request, and
// the loop that drains a subscription into a streaming response.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/quote"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/kit/idlepoll"
)

// ErrorBody is every HTTP error response: {"error":{"code":..,"message":..}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a machine-readable code and a human-readable message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// maxErrorMessage bounds an error body's message: messages quote client
// input through package quote, and this catches any that does not.
const maxErrorMessage = 1024

// WriteError answers with status and a JSON error body.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	msg = quote.Truncate(msg, maxErrorMessage)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

// WriteJSON answers 200 with v as JSON.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// WriteHubError maps a hub or topic error onto a status and code.
func WriteHubError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, hub.ErrTooLarge):
		WriteError(w, http.StatusRequestEntityTooLarge, "payload_too_large", err.Error())
	case errors.Is(err, hub.ErrRetainedQuota):
		WriteError(w, http.StatusInsufficientStorage, "retained_quota", err.Error())
	case errors.Is(err, hub.ErrTooManySubscriptions):
		WriteError(w, http.StatusTooManyRequests, "too_many_subscriptions", err.Error())
	case errors.Is(err, hub.ErrUnavailable):
		WriteError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	case errors.Is(err, hub.ErrShutdown):
		WriteError(w, http.StatusServiceUnavailable, "shutting_down", err.Error())
	case topic.IsInvalid(err):
		WriteError(w, http.StatusBadRequest, "invalid_topic", err.Error())
	default:
		WriteError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

// AcquireConn admits a streaming request, answering 503 (server full) or
// 429 (too many from this address) when refused. The listener's admission
// admits each HTTP/1 connection when it accepts it, so only HTTP/2 streams,
// which share a connection, take a slot here (a.Acquire), one each. It also lifts the server's read
// timeout (http.readtimeout), which bounds requests, not streaming
// responses: on HTTP/1 net/http's read of the quiet connection would hit it
// and cancel the request.
func AcquireConn(w http.ResponseWriter, r *http.Request, a acceptloop.Admission) (release func(), ok bool) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	if r.ProtoMajor < 2 {
		return func() {}, true
	}
	release, err := a.Acquire(r.RemoteAddr)
	if err != nil {
		WriteConnRefusal(w, err)
		return nil, false
	}
	return release, true
}

// WriteConnRefusal answers a refusal of limit.Conns.Acquire.
func WriteConnRefusal(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "5")
	WriteError(w, ConnRefusalStatus(err), "too_many_connections", err.Error())
}

// ConnRefusalStatus is the status of a refusal of limit.Conns.Acquire: 503
// when the server is full, 429 when the client's address is.
func ConnRefusalStatus(err error) int {
	if errors.Is(err, limit.ErrTooManyConnections) {
		return http.StatusServiceUnavailable
	}
	return http.StatusTooManyRequests
}

// StreamConfig tunes a streaming HTTP transport (SSE, NDJSON).
type StreamConfig struct {
	Queue        hub.QueueLimits
	Heartbeat    time.Duration
	WriteTimeout time.Duration
	Policy       *auth.Policy // nil: open
	// Admission gives each HTTP/2 stream a connection slot (AcquireConn);
	// the zero value admits everything.
	Admission acceptloop.Admission

	// Registry lists the connections for the admin API (nil: not listed).
	Registry *registry.Registry
	// EncodeCheck goes to every kit.Writer (nil in production).
	EncodeCheck kit.EncodeCheck
	// Idle parks idle connections' sockets (nil: each keeps a goroutine
	// waiting for input).
	Idle *idlepoll.Poller
}

// Subscriber admits the subscribers of one streaming transport, counted
// in meter.
func (c StreamConfig) Subscriber(h kit.Subscriptions, transport string, meter kit.Meter) Subscriber {
	return Subscriber{Hub: h, Transport: transport, Queue: c.Queue, Policy: c.Policy, Admission: c.Admission,
		Registry: c.Registry, Meter: meter, streams: true}
}

// Subscriber admits the HTTP subscribers of one transport.
type Subscriber struct {
	Hub       kit.Subscriptions
	Transport string // the hub's and the metrics' name for it
	Queue     hub.QueueLimits
	Policy    *auth.Policy // nil: open
	Admission acceptloop.Admission
	Registry  *registry.Registry // nil: not listed
	Meter     kit.Meter          // nil: not counted
	// streams: the subscriptions are served by a Stream, whose state
	// after the takeover they hold (streamSubscription).
	streams bool
}

// Subscription is an admitted HTTP subscriber: a kit.Subscriber (its hub
// subscription, where it started, its count and its listing) holding its
// connection slot, all released together by Close.
type Subscription struct {
	kit.Subscriber
	// out is the stream's state after its takeover (Stream.Serve), in
	// the same allocation for a streaming transport's subscriber
	// (streamSubscription): an idle HTTP/1 stream is that value, its
	// socket and the hub's share of its subscription.
	out    *takenOver
	served bool
}

// streamSubscription is a Subscription with room for its stream.
type streamSubscription struct {
	Subscription
	out takenOver
}

// CloseUnlessServed closes s unless Serve took it over. Deferred right
// after Subscribe, it frees what the subscriber holds when its handler
// returns early or panics before the stream starts: a panic in a
// transport's own code must not leak a subscription, a listing or a
// connection slot.
func (s *Subscription) CloseUnlessServed() {
	if !s.served {
		s.Close()
	}
}

// Subscribe admits the request (a connection slot), opens a subscriber
// (kit.Open: counted, listed) and subscribes it to req for the request's
// identity, returning where it started. When refused it answers itself:
// 429/503, 403 or the hub error's status.
func (s Subscriber) Subscribe(w http.ResponseWriter, r *http.Request, req kit.SubscribeRequest) (*Subscription, hub.Start, bool) {
	release, ok := AcquireConn(w, r, s.Admission)
	if !ok {
		return nil, hub.Start{}, false
	}
	var sub *Subscription
	if s.streams {
		ss := &streamSubscription{}
		ss.Subscription.out = &ss.out
		sub = &ss.Subscription
	} else {
		sub = &Subscription{}
	}
	start, ok := s.open(w, r, req, &sub.Subscriber, release)
	if !ok {
		return nil, hub.Start{}, false
	}
	return sub, start, true
}

// SubscribeTo is Subscribe into sub, a zero kit.Subscriber held in the
// transport's own state (one allocation less for each connection), which
// the transport closes.
func (s Subscriber) SubscribeTo(w http.ResponseWriter, r *http.Request, req kit.SubscribeRequest, sub *kit.Subscriber) (hub.Start, bool) {
	release, ok := AcquireConn(w, r, s.Admission)
	if !ok {
		return hub.Start{}, false
	}
	return s.open(w, r, req, sub, release)
}

// open opens sub for an admitted request and subscribes it, answering a
// refusal.
func (s Subscriber) open(w http.ResponseWriter, r *http.Request, req kit.SubscribeRequest, sub *kit.Subscriber, release func()) (hub.Start, bool) {
	req.Identity = auth.FromContext(r.Context())
	sub.Open(kit.Opening{Hub: s.Hub, Transport: s.Transport, Queue: s.Queue, Meter: s.Meter,
		Registry: s.Registry, Identity: req.Identity, Remote: r.RemoteAddr})
	if r.ProtoMajor >= 2 { // HTTP/1's connection holds its slot (AcquireConn)
		sub.OnClose(release)
	}
	start, err := sub.Subscribe(s.Policy, req)
	if err != nil {
		sub.Close()
		WriteSubscribeError(w, err)
		return hub.Start{}, false
	}
	return start, true
}

// WriteSubscribeError answers a refusal of kit.Subscribe.
func WriteSubscribeError(w http.ResponseWriter, err error) {
	if kit.IsForbidden(err) {
		WriteError(w, http.StatusForbidden, "forbidden", err.Error())
		return
	}
	WriteHubError(w, err)
}

// SubscribeRequest reads the filters (`topic` parameters) and the starting
// point of a subscribe request, answering 400 when one is invalid.
func SubscribeRequest(w http.ResponseWriter, r *http.Request) (kit.SubscribeRequest, bool) {
	filters, err := Filters(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "invalid_topic", err.Error())
		return kit.SubscribeRequest{}, false
	}
	from, err := StartFrom(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "invalid_cursor", err.Error())
		return kit.SubscribeRequest{}, false
	}
	return kit.SubscribeRequest{Filters: filters, From: from}, true
}

// Filters returns the request's `topic` query parameters, validated.
func Filters(r *http.Request) ([]string, error) {
	filters := r.URL.Query()["topic"]
	if len(filters) == 0 {
		return nil, errors.New("at least one topic filter is required: ?topic=FILTER")
	}
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return nil, err
		}
	}
	return filters, nil
}

// StartFrom reads where a subscription starts: a resume cursor from the
// Last-Event-ID header or the `cursor` / `last-event-id` query parameter,
// else `from=` (cursor, sequence or time) or `last=N`, else the retained
// messages unless `retained=false`.
func StartFrom(r *http.Request) (hub.StartFrom, error) {
	q := r.URL.Query()
	raw := r.Header.Get("Last-Event-ID")
	for _, k := range []string{"cursor", "last-event-id", "lastEventId"} {
		if raw == "" {
			raw = q.Get(k)
		}
	}
	if raw != "" {
		c, err := message.ParseCursor(raw)
		if err != nil {
			return hub.StartFrom{}, err
		}
		return hub.StartFrom{After: &c}, nil
	}
	if q.Get("from") != "" || q.Get("last") != "" {
		return hub.ParseStart(q.Get("from"), q.Get("last"))
	}
	retained := true
	if v := q.Get("retained"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return hub.StartFrom{}, fmt.Errorf("retained: %w", err)
		}
		retained = b
	}
	return hub.StartFrom{Retained: retained}, nil
}

// Accepts reports whether the request's Accept header names mediaType.
func Accepts(r *http.Request, mediaType string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), mediaType) {
			return true
		}
	}
	return false
}
