// Package hub is streamhub's core: it hands every message to its engine
// (internal/core/engine), which gives it a cursor and keeps what is stored,
// keeps retained messages and a short in-memory history, and fans each
// message out to the bounded queues of the subscriptions whose filters
// match it. Every transport publishes into and subscribes from one Hub.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/core/engine"
	"streamhub/internal/core/engine/local"
	"streamhub/internal/core/index"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// Config sizes the hub's in-memory history, which lets clients resume
// (SSE Last-Event-ID, long-poll cursors) without a gap inside that window.
type Config struct {
	HistoryMessages int
	HistoryBytes    int
	HistoryAge      time.Duration
	MaxPayload      int
	// MaxFilters bounds the filters of one subscription (0: no limit).
	MaxFilters int
	// QueueTotal bounds the bytes all subscriber queues hold together
	// (0: no limit); see budget.
	QueueTotal int64
	// RetainedMessages and RetainedBytes (topic and payload) bound the
	// retained messages kept (0: no limit), and RetainedUserMessages and
	// RetainedUserBytes those one user publishes (PublishedBy); see
	// ErrRetainedQuota.
	RetainedMessages     int
	RetainedBytes        int64
	RetainedUserMessages int
	RetainedUserBytes    int64
}

// Defaults returns the hub configuration used when none is given.
func Defaults() Config {
	return Config{HistoryMessages: 10000, HistoryBytes: 64 << 20, HistoryAge: time.Hour, MaxPayload: 8 << 20}
}

// Observer is told about events worth counting; metrics implement it.
type Observer interface {
	Dropped(transport string, n int)
	SlowConsumer(transport string)
}

type nopObserver struct{}

func (nopObserver) Dropped(string, int) {}
func (nopObserver) SlowConsumer(string) {}

// Errors returned by Publish.
var (
	ErrTooLarge = errors.New("payload too large")
	// ErrTooManySubscriptions is returned by Subscribe past MaxFilters.
	ErrTooManySubscriptions = errors.New("too many subscriptions on this connection")
)

// Hub is safe for concurrent use.
type Hub struct {
	cfg     Config
	log     *slog.Logger
	observe Observer
	engine  engine.Engine
	epoch   string
	queues  budget // every subscription's live messages, together

	// mu orders deliveries: the engine's positions, history, retained
	// store and enqueueing happen together, so a subscription made (or
	// resumed) under mu sees every message exactly once, from backlog or
	// from its queue. An engine that numbers messages on this node (the
	// local one) does so under mu (engine.Sink.Lock).
	// Lock order: Hub.mu, then Subscription.mu; Hub.mu, then the store's
	// (in memory: Stage); an engine's own delivery lock (JetStream's
	// deliverMu), then Hub.mu. No store I/O under either lock but the
	// rare Reserve: commits, pages and lookups run unlocked. Transports may hold
	// their own locks when they call into a subscription (MQTT drains its
	// queue under session.mu and the connection's writeMu: session.mu →
	// writeMu → Subscription.mu), so the hooks the hub calls under its
	// locks (Notify, OnOverflow) take none of those: they only flip
	// atomics and start goroutines. docs/ARCHITECTURE.md has the whole
	// order.
	mu       sync.Mutex
	seq      uint64 // the last position delivered
	subs     *index.Index[*Subscription]
	retained map[string]*message.Message
	// retainedBytes is what retained holds, as retainedSize counts it.
	retainedBytes int64
	owners        retainedOwners
	history       history
	live          *Subscription // the live subscriptions' list (Subscription.next)
	liveCount     int
	kinds         map[subKind]*subKind // kindLocked
	closed        bool
	matched       []*Subscription // scratch for deliver, guarded by mu
	topics        topicTable      // per-topic statistics for the admin API
	walkers       *walkers        // call the NotifyAfterPublish hooks fan-outs owe (wake.go)
	owed          wakeList        // what deliveries under sink.Lock owe, called at sink.Unlock

	// onSubscribe is told of every subscribe (observe.go).
	onSubscribe atomic.Pointer[func(*Subscription, []string)]
}

// replayPage is how many stored messages a catching-up subscription loads at once.
const replayPage = 1000

// A page's length is counted in 16 bits (Subscription.paged).
const _ uint16 = replayPage

// New makes a hub on eng, or on a local engine in memory when eng is
// nil. It takes the engine's epoch, head and retained messages and starts
// its delivery; Close stops it (the engine's store or connection stays
// open for its opener to close).
func New(cfg Config, log *slog.Logger, observe Observer, eng engine.Engine) (*Hub, error) {
	if observe == nil {
		observe = nopObserver{}
	}
	if log == nil {
		log = slog.Default()
	}
	if eng == nil {
		eng = local.New(nil, log)
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = Defaults().MaxPayload
	}
	h := &Hub{
		cfg:      cfg,
		log:      log,
		observe:  observe,
		engine:   eng,
		epoch:    eng.Epoch(),
		seq:      eng.Head(),
		subs:     index.New[*Subscription](),
		retained: make(map[string]*message.Message),
		walkers:  newWalkers(log),
	}
	h.queues.total = cfg.QueueTotal
	h.history.limits = cfg
	h.history.evicted = h.seq // older messages are in the engine, or gone
	retained, err := eng.Retained(context.Background())
	if err != nil {
		return nil, fmt.Errorf("hub: load retained messages: %w", err)
	}
	for _, m := range retained {
		h.putRetainedLocked(m)
	}
	if err := eng.Start(sink{h}); err != nil {
		return nil, fmt.Errorf("hub: start the engine: %w", err)
	}
	return h, nil
}

// Epoch identifies this hub's history; cursors from another epoch are gaps.
func (h *Hub) Epoch() string { return h.epoch }

// Publish validates m, stamps it and hands it to the engine, which
// delivers it on every node. It returns the message's cursor, the same on
// every node, once the engine holds it as its topic requires.
func (h *Hub) Publish(ctx context.Context, m *message.Message) (message.Cursor, error) {
	if err := h.admit(ctx, m); err != nil {
		return message.Cursor{}, err
	}
	c, err := h.engine.Publish(ctx, m)
	if err != nil {
		return message.Cursor{}, fmt.Errorf("hub: publish %q: %w", m.Topic, err)
	}
	return c, nil
}

// PublishAsync is Publish for a publisher that keeps reading while its
// message is stored, as an MQTT connection with many QoS 1 publishes in
// flight does: the local engine's store then commits many of them with
// one fsync, JetStream acknowledges a window of them at once. done gets
// what Publish would have returned, once Publish would have returned it:
// for a durable topic after the store, on the engine's goroutine.
// It runs exactly once, with no hub lock held, and for the publishes of
// one goroutine in the order they were made; it must not block.
func (h *Hub) PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error)) {
	if err := h.admit(ctx, m); err != nil {
		done(message.Cursor{}, err)
		return
	}
	// done goes to the engine as it is, errors unwrapped: a wrapper
	// would cost an allocation on every QoS 1 publish.
	h.engine.PublishAsync(ctx, m, done)
}

// ValidateName checks a topic name a message may be published to: the
// topic grammar, and what the engine can carry (a cluster's NATS subjects).
func (h *Hub) ValidateName(name string) error {
	if !topic.IsValidName(name) {
		return topic.ValidateName(name)
	}
	return h.engine.CheckName(name)
}

// ValidateFilter checks a subscription filter as ValidateName checks a name.
func (h *Hub) ValidateFilter(filter string) error {
	if err := topic.ValidateFilter(filter); err != nil {
		return err
	}
	return h.engine.CheckFilter(filter)
}

// admit checks m against the hub's limits and stamps its time.
func (h *Hub) admit(ctx context.Context, m *message.Message) error {
	if err := h.ValidateName(m.Topic); err != nil {
		return err
	}
	if len(m.Payload) > h.cfg.MaxPayload {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(m.Payload), h.cfg.MaxPayload)
	}
	if m.Retain && len(m.Payload) > 0 {
		if err := h.checkRetainedRoom(ctx, m); err != nil {
			return err
		}
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	return nil
}

// sink is the hub's side of the engine seam (engine.Sink): an engine
// hands it every message, positioned, in position order.
type sink struct{ h *Hub }

// Deliver fans out a message the engine positioned: another node's, or
// this node's own coming back.
func (k sink) Deliver(m *message.Message) {
	h := k.h
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	var wakes wakeList
	h.fanoutLocked(m, &wakes)
	h.mu.Unlock()
	h.wake(&wakes)
}

// Lock takes Hub.mu for an engine that numbers messages under it.
func (k sink) Lock() error {
	k.h.mu.Lock()
	if k.h.closed {
		return ErrShutdown
	}
	return nil
}

// Unlock releases Hub.mu and wakes what DeliverLocked owed.
func (k sink) Unlock() {
	h := k.h
	wakes := h.owed
	h.owed = wakeList{}
	h.mu.Unlock()
	h.wake(&wakes)
}

// DeliverLocked is Deliver under Lock; nothing once the hub is closed.
func (k sink) DeliverLocked(m *message.Message) {
	if !k.h.closed {
		k.h.fanoutLocked(m, &k.h.owed)
	}
}

// fanoutLocked applies a stored (or not to be stored) message: retained
// store, history, and the queues of matching subscriptions; the
// NotifyAfterPublish hooks it owes go to *wakes, for the caller to call
// once it has released mu.
func (h *Hub) fanoutLocked(m *message.Message, wakes *wakeList) {
	if m.Retain {
		if len(m.Payload) == 0 {
			h.dropRetainedLocked(m.Topic)
		} else {
			h.putRetainedLocked(m)
		}
	}
	h.seq = max(h.seq, m.Seq)
	h.history.push(m)
	h.topics.record(m)
	matched := h.matched[:0]
	h.subs.Match(m.Topic, func(s *Subscription) {
		if s.lastSeq != m.Seq && m.Seq > s.floor && (s.readCheck == nil || s.readCheck(m.Topic)) {
			s.lastSeq = m.Seq
			matched = append(matched, s)
		}
	})
	m.SetAudience(len(matched))
	for _, s := range matched {
		after := s.afterPublishFunc()
		if !s.enqueue(m, after == nil) {
			h.removeLocked(s)
		} else if after != nil {
			h.owe(wakes, s)
		}
	}
	clear(matched)
	h.matched = matched[:0]
}

// NewSubscription makes an empty subscription; add filters with Subscribe.
// After Close it returns a subscription that has already ended.
func (h *Hub) NewSubscription(transport string, limits QueueLimits) *Subscription {
	return h.NewSubscriptionWith(transport, limits, nil)
}

// NewSubscriptionWith is NewSubscription with the transport's hooks, which
// replace Notify and OnOverflow (nil: none, as NewSubscription).
func (h *Hub) NewSubscriptionWith(transport string, limits QueueLimits, hooks Hooks) *Subscription {
	s := &Subscription{hooks: hooks}
	limits = limits.withDefaults()
	h.mu.Lock()
	defer h.mu.Unlock()
	s.kind = h.kindLocked(transport, limits)
	if h.closed {
		s.end(ErrShutdown)
		return s
	}
	h.linkLocked(s)
	return s
}

// kindLocked returns the hub's one subKind for transport and limits; the
// caller holds h.mu. Transports use a few kinds each (their configured
// limits), so the map stays small.
func (h *Hub) kindLocked(transport string, limits QueueLimits) *subKind {
	k := subKind{hub: h, transport: transport, limits: limits}
	if p := h.kinds[k]; p != nil {
		return p
	}
	if h.kinds == nil {
		h.kinds = make(map[subKind]*subKind)
	}
	p := &k
	h.kinds[k] = p
	return p
}

// StartFrom says where a subscription starts.
type StartFrom struct {
	// Retained queues the retained messages matching the new filters first.
	Retained bool
	// After, when set, replays history after that cursor instead: a resume.
	After *message.Cursor
	// Since, when set, replays history published at or after that time.
	Since time.Time
	// Last, when positive, replays the last Last messages matching any of
	// the filters (together, not per filter).
	Last int
	// FromSeq, when positive, replays from that sequence of this hub's
	// epoch on (inclusive).
	FromSeq uint64
	// Owned says the filters are the caller's own strings, kept as they
	// are instead of copied: not views into a larger buffer (a packet,
	// a request), so that keeping them keeps nothing else alive.
	Owned bool
}

// Start describes how a subscription began.
type Start struct {
	// Head is the cursor of the newest message when the subscription began;
	// every live message that follows has a greater sequence.
	Head message.Cursor
	// Gap is true when a resume asked for history this hub no longer holds
	// (older than the window, or from another epoch); what is held is replayed.
	Gap bool
	// After is where a replay starts, resolved from whatever the request
	// said: the client's cursor as given, or the cursor that from=SEQ,
	// from=TIME or last=N came to. A gap reports it as what was asked for.
	// Nil when nothing is replayed (live, with or without retained).
	After *message.Cursor
}

// Asked is After as text, "" when nothing is replayed: the cursor a gap
// reports as asked for.
func (s Start) Asked() string {
	if s.After == nil {
		return ""
	}
	return s.After.String()
}

// Subscribe adds filters to s, queueing its backlog (retained messages, or
// history after a cursor) before any live message.
func (s *Subscription) Subscribe(filters []string, from StartFrom) (Start, error) {
	start, err := s.subscribe(filters, from)
	if err == nil {
		s.kind.hub.subscribed(s, filters)
	}
	return start, err
}

func (s *Subscription) subscribe(filters []string, from StartFrom) (Start, error) {
	h := s.kind.hub
	for _, f := range filters {
		if err := h.ValidateFilter(f); err != nil {
			return Start{}, err
		}
	}
	r, err := h.resumeOf(filters, from)
	if err != nil {
		return Start{}, err
	}
	for {
		start, ask, err := s.register(filters, from, &r)
		if !ask {
			return start, err
		}
		// The windows lost what the resume asks for since they were
		// looked at: the engine answers (unlocked), then try again.
		h.placePast(filters, &r)
	}
}

// resume is a start that replays history: from where, and what the
// engine said of it.
type resume struct {
	on    bool
	after uint64 // a position of this hub's epoch: replay after it
	// asked is what Start.After reports: the client's cursor as given, or
	// what a sequence, time or count resolved to.
	asked message.Cursor
	// foreign: a cursor of an epoch this hub does not know (another
	// server's, or a data directory since deleted) says nothing about
	// what the client has seen: everything still held is replayed, and
	// the start is a gap.
	foreign bool
	// placed is the engine's answer for a start older than the windows;
	// nil while it was not asked (the windows held the start).
	placed *engine.Placed
}

// resumeOf resolves from into a resume, asking the engine (without
// Hub.mu: it may do I/O) where the windows do not reach back far enough.
func (h *Hub) resumeOf(filters []string, from StartFrom) (resume, error) {
	var r resume
	switch {
	case from.FromSeq > 0:
		r.after = from.FromSeq - 1
	case !from.Since.IsZero() || from.Last > 0:
		var err error
		if r.after, r.placed, err = h.position(filters, from); err != nil {
			return resume{}, err
		}
	case from.After != nil:
		r.asked, r.foreign = *from.After, from.After.Epoch != h.epoch
		if !r.foreign {
			r.after = from.After.Seq
		}
		r.on = true
		h.placePast(filters, &r)
		return r, nil
	default:
		return r, nil // live, with or without retained messages
	}
	r.on, r.asked = true, message.Cursor{Epoch: h.epoch, Seq: r.after}
	if r.placed == nil {
		h.placePast(filters, &r)
	}
	return r, nil
}

// placePast asks the engine about r when it starts before what the
// memory windows hold (a resume the windows hold, every long poll and
// most SSE reconnects, costs no request). An engine that cannot answer
// is taken to replay without a gap: its replay then fails or retries as
// the subscription reads.
func (h *Hub) placePast(filters []string, r *resume) {
	h.mu.Lock()
	evicted := h.history.evictedFor(filters)
	h.mu.Unlock()
	if r.after >= evicted {
		return
	}
	p, err := h.engine.Place(context.Background(), filters, engine.From{After: r.after}, evicted)
	if err != nil {
		h.log.Warn("engine: could not tell whether history is gone; no gap reported", "err", err)
		p = engine.Placed{After: r.after, Replay: true}
	}
	r.placed = &p
}

// register queues the backlog r asks for and adds the filters, under
// Hub.mu; ask says the engine must place r first (Hub.mu released).
func (s *Subscription) register(filters []string, from StartFrom, r *resume) (start Start, ask bool, err error) {
	h := s.kind.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return Start{}, false, ErrShutdown
	}
	if err := s.Err(); err != nil {
		return Start{}, false, err
	}
	if h.cfg.MaxFilters > 0 {
		n := s.filters.Len()
		for _, f := range filters {
			if !s.filters.Has(f) {
				n++
			}
		}
		if n > h.cfg.MaxFilters {
			return Start{}, false, fmt.Errorf("%w: limit %d", ErrTooManySubscriptions, h.cfg.MaxFilters)
		}
	}
	start = Start{Head: message.Cursor{Epoch: h.epoch, Seq: h.seq}}
	var backlog []Delivery
	switch {
	case r.on:
		asked := r.asked
		start.After = &asked
		evicted := h.history.evictedFor(filters)
		switch {
		case r.after >= evicted:
			// The memory windows hold everything after the cursor; a start
			// the engine placed (by time or count) says itself whether
			// the windows lost some of what it asked for.
			backlog, _ = h.history.after(r.after, filters)
			start.Gap = r.placed != nil && r.placed.Gap
		case r.placed == nil:
			return Start{}, true, nil
		case r.placed.Replay:
			// Older than the windows: the engine's messages up to them,
			// paged in as the subscriber reads, then the windows.
			s.catchUp(filters, r.after, evicted)
			start.Gap = r.placed.Gap
			backlog, _ = h.history.after(evicted, filters)
		default:
			// The engine keeps nothing the windows lost; a start by time
			// placed before everything still skips what the windows hold
			// from before that time (other topics' messages).
			backlog, start.Gap = h.history.after(r.after, filters)
			start.Gap = start.Gap || r.placed.Gap
			if !from.Since.IsZero() {
				backlog = slices.DeleteFunc(backlog, func(d Delivery) bool { return d.Msg.Time.Before(from.Since) })
			}
		}
		start.Gap = start.Gap || r.foreign
		// A shared engine's node may not have delivered up to a cursor
		// taken on another node yet: what it delivers late, up to the
		// cursor, the client has seen.
		s.floor = max(s.floor, r.after)
	case from.Retained:
		backlog = h.retainedMatching(filters)
	}
	if s.readCheck != nil {
		backlog = slices.DeleteFunc(backlog, func(d Delivery) bool { return !s.readCheck(d.Msg.Topic) })
	}
	s.enqueueBacklog(backlog)
	for _, f := range filters {
		if kept, added := s.filters.add(f, from.Owned); added {
			h.subs.Add(kept, s)
		}
	}
	return start, false, nil
}

// position turns a time or a count into the position to replay after,
// looking in the memory windows (under Hub.mu) first and then asking the
// engine (placed) without Hub.mu, which fan-out needs: what the engine
// keeps up to the windows does not change meanwhile, and whatever the
// windows lose meanwhile the resume reads from the engine.
func (h *Hub) position(filters []string, from StartFrom) (uint64, *engine.Placed, error) {
	after, found, ok, evicted := h.positionInWindows(filters, from)
	if ok {
		return after, nil, nil
	}
	f := engine.From{Since: from.Since}
	if from.Last > 0 {
		f = engine.From{Last: from.Last - found}
	}
	p, err := h.engine.Place(context.Background(), filters, f, evicted)
	if err != nil {
		return 0, nil, fmt.Errorf("hub: place the start in stored history: %w", err)
	}
	return p.After, &p, nil
}

// positionInWindows answers position from the memory windows if they
// reach back far enough (ok); else it returns how many of the last
// messages they hold (found) and up to which sequence the engine must look.
// It takes Hub.mu and releases it even if it panics: a request's panic
// ends that request (net/http recovers it), never every publish after it.
func (h *Hub) positionInWindows(filters []string, from StartFrom) (after uint64, found int, ok bool, evicted uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	evicted = h.history.evictedFor(filters)
	held, _ := h.history.after(evicted, filters)
	if from.Last > 0 {
		if n := len(held); n >= from.Last {
			return held[n-from.Last].Msg.Seq - 1, n, true, evicted
		}
		return evicted, len(held), false, evicted
	}
	if len(held) > 0 && !held[0].Msg.Time.After(from.Since) {
		i, _ := slices.BinarySearchFunc(held, from.Since, func(d Delivery, t time.Time) int { return d.Msg.Time.Compare(t) })
		if i == len(held) { // every message held is older: start after them all
			return h.seq, 0, true, evicted
		}
		return held[i].Msg.Seq - 1, 0, true, evicted
	}
	return evicted, 0, false, evicted
}

// Unsubscribe removes filters from s; queued messages stay queued.
func (s *Subscription) Unsubscribe(filters []string) {
	h := s.kind.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range filters {
		if s.filters.Remove(f) {
			h.subs.Remove(f, s)
		}
	}
}

func (h *Hub) unsubscribeAll(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *Hub) removeLocked(s *Subscription) {
	for f := range s.filters.All {
		h.subs.Remove(f, s)
	}
	s.filters.Clear()
	h.unlinkLocked(s)
}

// linkLocked adds s to the live subscriptions; the caller holds h.mu.
func (h *Hub) linkLocked(s *Subscription) {
	s.prev, s.next = nil, h.live
	if h.live != nil {
		h.live.prev = s
	}
	h.live = s
	h.liveCount++
}

// unlinkLocked removes s from the live subscriptions if it is there; the
// caller holds h.mu.
func (h *Hub) unlinkLocked(s *Subscription) {
	if s.prev == nil && h.live != s {
		return // not linked
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		h.live = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	h.liveCount--
}

func (h *Hub) retainedMatching(filters []string) []Delivery {
	var out []Delivery
	now := time.Now()
	keep := func(name string, m *message.Message) {
		if m.Expired(now) {
			h.dropRetainedLocked(name)
			return
		}
		out = append(out, Delivery{Msg: m, Retained: true})
	}
	for _, f := range filters {
		if !topic.IsFilter(f) {
			if m := h.retained[f]; m != nil {
				keep(f, m)
			}
			continue
		}
		for name, m := range h.retained {
			if topic.Match(f, name) {
				keep(name, m)
			}
		}
	}
	return sortDedupe(out)
}

// Retained returns the retained message on a topic, or nil.
func (h *Hub) Retained(name string) *message.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.retained[name]
}

// Subscribers is the number of subscriptions registered on exactly filter.
func (h *Hub) Subscribers(filter string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs.Count(filter)
}

// Stats is a snapshot of the hub's size.
type Stats struct {
	Subscriptions int
	Filters       int // (filter, subscription) pairs in the index
	Retained      int
	History       int
	HistoryBytes  int
	Seq           uint64 // the last position delivered
	QueuedBytes   int64  // live messages in every subscriber queue
	Engine        engine.Stats
}

// Stats returns current counts.
func (h *Hub) Stats() Stats {
	es := h.engine.Stats() // before Hub.mu: an engine's own lock comes first
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Subscriptions: h.liveCount, Filters: h.subs.Len(), Retained: len(h.retained), History: h.history.len(),
		HistoryBytes: h.history.bytes, Seq: h.seq, QueuedBytes: h.queues.bytes.Load(), Engine: es}
}

// Close ends every subscription with ErrShutdown and refuses new work.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	h.engine.Stop() // delivers no more (a local engine commits what it staged)
	h.mu.Lock()
	var live []*Subscription
	for s := h.live; s != nil; {
		next := s.next
		s.prev, s.next = nil, nil
		live = append(live, s)
		s = next
	}
	h.live, h.liveCount = nil, 0
	h.subs = index.New[*Subscription]()
	for _, s := range live {
		s.filters.Clear()
	}
	h.mu.Unlock()
	for _, s := range live {
		s.end(ErrShutdown)
	}
}
