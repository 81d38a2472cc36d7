// Package admin serves the admin API under /v1/admin/: topics, live
// connections (and kicking them), MQTT sessions, retained messages, durable
// streams, statistics and the configuration with its secrets redacted. The
// dashboard is built on it alone (and on the public transports); it is
// documented in docs/ADMIN.md and by the OpenAPI document it serves.
package admin

import (
	"context"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/store"
	"streamhub/internal/core/topic"
	"streamhub/internal/metrics"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/mqtt"
)

// Hub is what the admin API needs from the core.
type Hub interface {
	Topics() []hub.TopicInfo
	RetainedMessages() []*message.Message
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
	Stats() hub.Stats
	Watched(topic string) bool
}

// Sessions lists MQTT sessions (*mqtt.Server).
type Sessions interface {
	Sessions() []mqtt.SessionInfo
}

// Store describes the durable streams (*store.Store).
type Store interface {
	Streams() ([]store.StreamInfo, error)
	DiskSize() uint64
}

// Counters reads the message counters (*metrics.Metrics).
type Counters interface {
	Totals() (metrics.Totals, error)
}

// Deps are what the admin API reads and steers. Store may be nil (no data
// directory).
type Deps struct {
	Hub      Hub
	Registry *registry.Registry
	Sessions Sessions
	Store    Store
	Counters Counters
	// Config is the configuration to show; Redact hides its secrets.
	Config  any
	Version string
	Started time.Time
	// Cluster reports the node's cluster state (nil on a single node).
	Cluster func() Cluster
	// Webhooks reports the webhooks (nil: none).
	Webhooks Webhooks
}

// API serves /v1/admin/.
type API struct {
	deps Deps
	log  *slog.Logger
}

// New returns the admin API.
func New(deps Deps, log *slog.Logger) *API {
	return &API{deps: deps, log: log}
}

//go:embed openapi.json
var openAPI []byte

// Routes mounts the API on mux; guard wraps every route (see Guard).
func (a *API) Routes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	route := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, guard(f)) }
	route("GET /v1/admin/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	route("GET /v1/admin/stats", func(w http.ResponseWriter, r *http.Request) { httpx.WriteJSON(w, a.Stats()) })
	route("GET /v1/admin/topics", a.topics)
	route("GET /v1/admin/clients", a.clients)
	route("DELETE /v1/admin/clients/{id}", a.kick)
	route("GET /v1/admin/sessions", a.sessions)
	route("GET /v1/admin/retained", a.retained)
	route("DELETE /v1/admin/retained/{topic...}", a.deleteRetained)
	route("GET /v1/admin/streams", a.streams)
	route("GET /v1/admin/webhooks", a.webhooks)
	route("GET /v1/admin/config", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, map[string]any{"config": Redact(a.deps.Config)})
	})
	route("/v1/admin/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no admin route for "+r.Method+" "+r.URL.Path+
			"; see /v1/admin/openapi.json")
	})
}

// topicJSON is one topic of GET /v1/admin/topics.
type topicJSON struct {
	Name     string  `json:"name"`
	Messages uint64  `json:"messages"`
	Rate     float64 `json:"rate"`
	Retained bool    `json:"retained"`
	Durable  bool    `json:"durable"`
	// Last is the last message; over 1 KiB only its size, LastBytes, is kept.
	Last      json.RawMessage `json:"last,omitempty"`
	LastBytes int             `json:"last_bytes"`
}

func (a *API) topics(w http.ResponseWriter, r *http.Request) {
	q, ok := readPage(w, r)
	if !ok {
		return
	}
	filter := r.URL.Query().Get("filter")
	if filter != "" {
		if err := topic.ValidateFilter(filter); err != nil {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_topic", err.Error())
			return
		}
	}
	topics := a.deps.Hub.Topics()
	if filter != "" {
		topics = slices.DeleteFunc(topics, func(t hub.TopicInfo) bool { return !topic.Match(filter, t.Name) })
	}
	p := pageOf(topics, func(t hub.TopicInfo) string { return t.Name }, byName, q)
	out := make([]topicJSON, 0, len(p.items))
	for _, t := range p.items {
		tj := topicJSON{Name: t.Name, Messages: t.Messages, Rate: t.Rate, Retained: t.Retained, Durable: t.Durable,
			LastBytes: t.LastSize}
		if t.Last != nil {
			tj.Last = envelope.Marshal(t.Last, false)
		}
		out = append(out, tj)
	}
	writePage(w, "topics", page[topicJSON]{items: out, next: p.next, total: p.total})
}

func (a *API) clients(w http.ResponseWriter, r *http.Request) {
	if q, ok := readPage(w, r); ok {
		writePage(w, "clients", pageOf(a.deps.Registry.List(), func(c registry.Info) string { return c.ID }, byNumber, q))
	}
}

func (a *API) sessions(w http.ResponseWriter, r *http.Request) {
	if q, ok := readPage(w, r); ok {
		writePage(w, "sessions", pageOf(a.deps.Sessions.Sessions(), func(s mqtt.SessionInfo) string { return s.ClientID }, byName, q))
	}
}

func (a *API) kick(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.deps.Registry.Kick(id) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no connection "+id)
		return
	}
	a.log.Info("connection kicked", "conn", id, "by", requester(r))
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) retained(w http.ResponseWriter, r *http.Request) {
	q, ok := readPage(w, r)
	if !ok {
		return
	}
	p := pageOf(a.deps.Hub.RetainedMessages(), func(m *message.Message) string { return m.Topic }, byName, q)
	out := make([]json.RawMessage, 0, len(p.items))
	for _, m := range p.items {
		out = append(out, envelope.Marshal(m, true))
	}
	writePage(w, "retained", page[json.RawMessage]{items: out, next: p.next, total: p.total})
}

// deleteRetained clears a retained message the way MQTT does: an empty
// retained publish, which also reaches the topic's subscribers.
func (a *API) deleteRetained(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if q := r.URL.Query().Get("topic"); q != "" {
		name = q
	}
	if _, err := a.deps.Hub.Publish(r.Context(), &message.Message{Topic: name, Retain: true}); err != nil {
		httpx.WriteHubError(w, err)
		return
	}
	a.log.Info("retained message deleted", "topic", name, "by", requester(r))
	w.WriteHeader(http.StatusNoContent)
}

// streamJSON is one durable stream of GET /v1/admin/streams.
type streamJSON struct {
	Filter   string `json:"filter"`
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	First    uint64 `json:"first_seq"`
	Last     uint64 `json:"last_seq"`
	// Retention, 0 meaning no bound.
	MaxMessages int    `json:"max_messages"`
	MaxBytes    int64  `json:"max_bytes"`
	MaxAge      string `json:"max_age"`
}

func (a *API) streams(w http.ResponseWriter, r *http.Request) {
	q, ok := readPage(w, r)
	if !ok {
		return
	}
	out := []streamJSON{}
	if a.deps.Store != nil {
		streams, err := a.deps.Store.Streams()
		if err != nil {
			a.log.Error("admin: durable streams", "err", err)
			httpx.WriteError(w, http.StatusInternalServerError, "store_error", err.Error())
			return
		}
		for _, s := range streams {
			out = append(out, streamJSON{Filter: s.Filter, Messages: s.Messages, Bytes: s.Bytes, First: s.First, Last: s.Last,
				MaxMessages: s.Stream.Messages, MaxBytes: s.Stream.Bytes, MaxAge: s.Age.String()})
		}
	}
	writePage(w, "streams", pageOf(out, func(s streamJSON) string { return s.Filter }, byName, q))
}
