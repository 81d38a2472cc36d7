package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/media"
	"streamhub/internal/registry"
)

// Event is the JSON body of one webhook request.
type Event struct {
	ID    string    `json:"id"` // the same on every attempt: receivers skip repeats by it
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	Node  string    `json:"node,omitempty"`
	// Conn is the connection of connect, disconnect and subscribe events.
	Conn *Conn `json:"conn,omitempty"`
	// Filters are what a subscribe event subscribed to.
	Filters []string `json:"filters,omitempty"`
	// Message is a publish event's message, as the NDJSON stream and the
	// WebSocket JSON protocol carry it.
	Message json.RawMessage `json:"message,omitempty"`
	// Media is the path of media.online and media.offline events.
	Media *MediaPath `json:"media,omitempty"`
}

// Conn describes a connection, as GET /v1/admin/clients lists it.
type Conn struct {
	ID        string    `json:"id"`
	Transport string    `json:"transport"`
	Identity  string    `json:"identity,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Remote    string    `json:"remote"`
	Path      string    `json:"path,omitempty"` // a media connection's path
	Role      string    `json:"role,omitempty"` // and whether it publishes or reads it
	Since     time.Time `json:"since"`
}

// MediaPath is a media path whose state changed.
type MediaPath struct {
	Path   string `json:"path"`
	Source string `json:"source,omitempty"` // the publisher's protocol, when online
}

func connOf(in registry.Info) *Conn {
	return &Conn{ID: in.ID, Transport: in.Transport, Identity: in.Identity, ClientID: in.ClientID, Remote: in.Remote,
		Path: in.Path, Role: in.Role, Since: in.Since}
}

// emit queues ev for every hook that wants it; publish events go to the
// hooks whose filters match name. It never blocks.
func (m *Manager) emit(ev Event, name string) {
	var body []byte
	for _, h := range m.hooks {
		if !h.wants(ev.Event, name) {
			continue
		}
		if body == nil {
			ev.ID, ev.Time, ev.Node = m.newID(), time.Now().UTC(), m.node
			var err error
			if body, err = json.Marshal(ev); err != nil {
				m.log.Error("webhook event not encoded", "event", ev.Event, "err", err)
				return
			}
		}
		if !h.queue.add(body) {
			h.dropped.Add(1)
			m.remote.Log(slog.LevelWarn, "webhook queue full: event dropped", "webhook", h.cfg.Name, "event", ev.Event, "queued", h.queue.len())
			continue
		}
		h.signal()
	}
}

func (h *hook) wants(kind, name string) bool {
	if !slices.Contains(h.cfg.Events, kind) {
		return false
	}
	if kind != Publish {
		return true
	}
	for _, f := range h.cfg.Topics {
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}

// observer hears of connections from the registry, of every protocol.
type observer struct{ m *Manager }

func (o observer) Connected(in registry.Info) {
	o.m.emit(Event{Event: Connect, Conn: connOf(in)}, "")
	// Filters a connection has when listed were subscribed before it was
	// (HTTP subscribers, a resumed MQTT session): the hub's word of them
	// came before the connection could be found.
	if len(in.Filters) > 0 {
		o.m.emit(Event{Event: Subscribe, Conn: connOf(in), Filters: in.Filters}, "")
	}
}

func (o observer) Disconnected(in registry.Info) {
	o.m.emit(Event{Event: Disconnect, Conn: connOf(in)}, "")
}

// subscribed hears of every subscribe from the hub; those of listed
// connections are events (the manager's own subscription and MQTT
// sessions restored without a client are not).
func (m *Manager) subscribed(s *hub.Subscription, filters []string) {
	if s == m.events {
		return
	}
	if in, ok := m.reg.ByQueue(s); ok {
		m.emit(Event{Event: Subscribe, Conn: connOf(in), Filters: slices.Clone(filters)}, "")
	}
}

// eventsQueue bounds the messages waiting to become publish and media
// events; past it the oldest are dropped (streamhub_messages_dropped_total
// with transport="webhook").
var eventsQueue = hub.QueueLimits{Messages: 100_000, Bytes: 64 << 20, Overflow: hub.DropOldest}

// subscribeEvents opens the subscription publish and media events come
// from, if a hook wants them.
func (m *Manager) subscribeEvents(h Hub) error {
	var filters []string
	wantMedia := false
	for _, hk := range m.hooks {
		for _, f := range hk.cfg.Topics {
			if !slices.Contains(filters, f) {
				filters = append(filters, f)
			}
		}
		wantMedia = wantMedia || slices.Contains(hk.cfg.Events, MediaOnline) || slices.Contains(hk.cfg.Events, MediaOffline)
	}
	if len(filters) == 0 && !wantMedia {
		return nil
	}
	sub := h.NewSubscription("webhook", eventsQueue)
	m.events = sub
	if len(filters) > 0 {
		if _, err := sub.Subscribe(filters, hub.StartFrom{}); err != nil {
			sub.Close()
			return fmt.Errorf("webhook: subscribe %v: %w", filters, err)
		}
	}
	if wantMedia {
		// The retained states say which paths are online now, without an event.
		if _, err := sub.Subscribe([]string{media.StateTopicPrefix + "#"}, hub.StartFrom{Retained: true}); err != nil {
			sub.Close()
			return fmt.Errorf("webhook: subscribe to media states: %w", err)
		}
	}
	return nil
}

func (m *Manager) drainEvents(ctx context.Context) {
	var buf []hub.Delivery
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.events.Done():
			return
		case <-m.events.Ready():
		}
		buf = m.events.Drain(buf[:0])
		for _, d := range buf {
			m.message(d)
		}
		clear(buf)
	}
}

func (m *Manager) message(d hub.Delivery) {
	msg := d.Msg
	if strings.HasPrefix(msg.Topic, media.StateTopicPrefix) {
		m.mediaState(msg, d.Retained)
	}
	if !d.Retained {
		m.emit(Event{Event: Publish, Message: envelope.Marshal(msg, false)}, msg.Topic)
	}
}

// mediaState turns a path's state message into an event when the path
// went online or offline since the last one.
func (m *Manager) mediaState(msg *message.Message, retained bool) {
	path := strings.TrimPrefix(msg.Topic, media.StateTopicPrefix)
	var st media.State
	if len(msg.Payload) > 0 {
		if err := json.Unmarshal(msg.Payload, &st); err != nil {
			return // not the media registry's
		}
	}
	was := m.media[path]
	if st.Online {
		m.media[path] = true
	} else {
		delete(m.media, path)
	}
	switch {
	case retained || was == st.Online:
	case st.Online:
		m.emit(Event{Event: MediaOnline, Media: &MediaPath{Path: path, Source: st.Source}}, "")
	default:
		m.emit(Event{Event: MediaOffline, Media: &MediaPath{Path: path}}, "")
	}
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want http:// or https:// and a host", s)
	}
	return nil
}
