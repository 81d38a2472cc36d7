// Package webhook POSTs server events as signed JSON to configured URLs:
// connections and disconnections of every protocol, subscribes, publishes
// on chosen topic filters, and media paths going online or offline. Each
// hook has its own queue, delivered in order and retried with back-off;
// with a store the queue is kept on disk and survives restarts, in memory
// it is bounded and what does not fit is dropped and counted.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/store"
	"streamhub/internal/core/topic"
	"streamhub/internal/ratelog"
	"streamhub/internal/registry"
)

// Event kinds, as hooks name them in their events list.
const (
	Connect      = "connect"
	Disconnect   = "disconnect"
	Subscribe    = "subscribe"
	Publish      = "publish"
	MediaOnline  = "media.online"
	MediaOffline = "media.offline"
)

// Kinds lists every event kind.
var Kinds = []string{Connect, Disconnect, Subscribe, Publish, MediaOnline, MediaOffline}

// Hook is one receiver and what it is sent.
type Hook struct {
	Name   string
	URL    string
	Secret string   // signs each body (HMAC-SHA256); "" sends unsigned
	Events []string // of Kinds
	Topics []string // the filters of publish events
	// Timeout bounds one attempt; Backoff is the first wait after a failed
	// one, doubling up to BackoffMax.
	Timeout, Backoff, BackoffMax time.Duration
	// Queue bounds the events waiting (in memory or on disk); newer
	// events are dropped while it is full.
	Queue int
	// Attempts, when positive, drops an event after that many failures;
	// 0 tries until the receiver takes it.
	Attempts int
}

// Defaults of a hook's zero fields.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultBackoff    = time.Second
	DefaultBackoffMax = time.Minute
	DefaultQueue      = 10000
)

// Validate reports what is wrong with h.
func (h Hook) Validate() error {
	var errs []error
	if !validName(h.Name) {
		errs = append(errs, fmt.Errorf("name %q: want letters, digits, - and _", h.Name))
	}
	if err := checkURL(h.URL); err != nil {
		errs = append(errs, err)
	}
	if len(h.Events) == 0 {
		errs = append(errs, errors.New("events: name at least one of "+fmt.Sprint(Kinds)))
	}
	for _, e := range h.Events {
		if !slices.Contains(Kinds, e) {
			errs = append(errs, fmt.Errorf("events: %q is not one of %v", e, Kinds))
		}
	}
	if slices.Contains(h.Events, Publish) != (len(h.Topics) > 0) {
		errs = append(errs, errors.New("topics: publish events need topic filters, and topic filters need publish events"))
	}
	for _, f := range h.Topics {
		if err := topic.ValidateFilter(f); err != nil {
			errs = append(errs, fmt.Errorf("topics: %w", err))
		}
	}
	if h.Timeout < 0 || h.Backoff < 0 || h.BackoffMax < 0 || h.Queue < 0 || h.Attempts < 0 {
		errs = append(errs, errors.New("timeout, backoff, backoffmax, queue and attempts must not be negative"))
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (h Hook) withDefaults() Hook {
	if h.Timeout == 0 {
		h.Timeout = DefaultTimeout
	}
	if h.Backoff == 0 {
		h.Backoff = DefaultBackoff
	}
	if h.BackoffMax == 0 {
		h.BackoffMax = max(DefaultBackoffMax, h.Backoff)
	}
	if h.Queue == 0 {
		h.Queue = DefaultQueue
	}
	return h
}

// Store keeps the queues on disk (*store.Store).
type Store interface {
	QueueAppend(name string, first uint64, recs [][]byte) error
	QueueHead(name string, after uint64, n int) ([]store.QueueItem, error)
	QueueRemove(name string, seq uint64) error
	QueueStat(name string) (count int, last uint64, err error)
}

// Hub is what the manager needs from the core: a subscription for publish
// and media events, and word of every subscribe.
type Hub interface {
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
	OnSubscribe(func(s *hub.Subscription, filters []string))
}

// Config builds a Manager.
type Config struct {
	Hooks []Hook
	Node  string // this node's name in events, "" on a single node
	// Store keeps the queues across restarts; nil keeps them in memory.
	Store   Store
	Version string // in the User-Agent
}

// Manager runs every hook. It is safe for concurrent use.
type Manager struct {
	hooks   []*hook
	node    string
	version string
	log     *slog.Logger
	remote  *ratelog.Logger // drops and failures, which a receiver causes at will
	client  *http.Client
	idBase  string
	nextID  atomic.Uint64

	reg    *registry.Registry
	events *hub.Subscription // publish and media events; nil when no hook wants them
	media  map[string]bool   // path → online, as last seen (the events goroutine only)

	cancel    context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New builds the hooks; with a store, each finds its queue as it was left.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	idBase := make([]byte, 6)
	_, _ = rand.Read(idBase)
	m := &Manager{node: cfg.Node, version: cfg.Version, log: log, remote: ratelog.New(log, time.Second, 5),
		idBase: hex.EncodeToString(idBase), media: map[string]bool{},
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	for _, hc := range cfg.Hooks {
		if err := hc.Validate(); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", hc.Name, err)
		}
		hc = hc.withDefaults()
		h := &hook{cfg: hc, wake: make(chan struct{}, 1), log: log.With("webhook", hc.Name)}
		if cfg.Store != nil {
			q, err := openStored(cfg.Store, "webhook/"+hc.Name, hc.Queue)
			if err != nil {
				return nil, fmt.Errorf("webhook %s: %w", hc.Name, err)
			}
			h.queue = q
		} else {
			h.queue = &memoryBacklog{limit: hc.Queue}
		}
		m.hooks = append(m.hooks, h)
	}
	return m, nil
}

// Start delivers what the queues hold and listens: to reg for
// connections and disconnections, to h for subscribes, publishes and
// media paths.
func (m *Manager) Start(h Hub, reg *registry.Registry) error {
	if len(m.hooks) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.reg = reg
	if err := m.subscribeEvents(h); err != nil {
		cancel()
		return err
	}
	reg.Observe(observer{m})
	h.OnSubscribe(m.subscribed) // after m.events is set: subscribed reads it
	for _, hk := range m.hooks {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.deliver(ctx, hk)
		}()
	}
	if m.events != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.drainEvents(ctx)
		}()
	}
	return nil
}

// Close stops delivering: an attempt under way is abandoned (the event
// stays queued). With a store, what is queued is on disk when it returns;
// call it before closing the store.
func (m *Manager) Close() {
	if m == nil || m.cancel == nil {
		return
	}
	m.closeOnce.Do(m.close)
}

func (m *Manager) close() {
	m.cancel()
	if m.events != nil {
		m.events.Close()
	}
	m.wg.Wait()
	for _, h := range m.hooks {
		if err := h.queue.flush(); err != nil {
			h.log.Error("webhook events not stored at shutdown", "err", err)
		}
		if n := h.queue.len(); n > 0 {
			if _, ok := h.queue.(*memoryBacklog); ok {
				h.log.Warn("webhook events lost at shutdown (no data directory)", "events", n)
			}
		}
	}
}

// newID names an event uniquely: receivers use it to ignore a repeat.
func (m *Manager) newID() string {
	return m.idBase + "-" + strconv.FormatUint(m.nextID.Add(1), 10)
}
