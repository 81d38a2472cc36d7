// Package hub is streamhub's core: it gives every message a cursor, keeps
// retained messages and a short in-memory history, and fans each message out
// to the bounded queues of the subscriptions whose filters match it. Every
// transport publishes into and subscribes from one Hub.
package hub

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

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
	broker  Broker
	names   NameChecker // the broker's bounds on names, nil if it has none
	epoch   string
	// stopRun ends a shared broker's Run; runDone is closed when it returned.
	stopRun context.CancelFunc
	runDone chan struct{}
	queues  budget // every subscription's live messages, together

	// mu orders publishes: cursor assignment, history, retained store and
	// enqueueing happen together, so a subscription made (or resumed) under
	// mu sees every message exactly once, from backlog or from its queue.
	// Lock order: Hub.mu, then Subscription.mu; Hub.mu, then the store's
	// (in memory: Stage, Gap). No store I/O under either lock but the
	// rare Reserve: commits, pages and lookups run unlocked. Transports may hold
	// their own locks when they call into a subscription (MQTT drains its
	// queue under session.mu and the connection's writeMu: session.mu →
	// writeMu → Subscription.mu), so the hooks the hub calls under its
	// locks (Notify, OnOverflow) take none of those: they only flip
	// atomics and start goroutines. docs/ARCHITECTURE.md has the whole
	// order.
	mu       sync.Mutex
	seq      uint64
	subs     *index.Index[*Subscription]
	retained map[string]*message.Message
	// retainedBytes is what retained holds, as retainedSize counts it.
	retainedBytes int64
	owners        retainedOwners
	history       history
	live          map[*Subscription]struct{}
	closed        bool
	matched       []*Subscription // scratch for deliver, guarded by mu
	topics        topicTable      // per-topic statistics for the admin API
	walkers       *walkers        // call the NotifyAfterPublish hooks fan-outs owe (wake.go)

	// onSubscribe is told of every subscribe (observe.go).
	onSubscribe atomic.Pointer[func(*Subscription, []string)]

	// With a store: messages sequenced but waiting for their commit, in
	// order; the committer fans them out once stored.
	store         Store
	reserved      uint64
	staged        []*staged
	committing    bool // a batch taken from staged is not fanned out and acknowledged yet: later messages wait too
	commitWake    chan struct{}
	committerDone chan struct{}
}

// staged is a message waiting for its commit; the committer tells its
// publisher through done (Publish) or then (PublishAsync).
type staged struct {
	m    *message.Message
	done chan error
	then func(message.Cursor, error)
}

// finish tells the publisher how its message ended.
func (st *staged) finish(err error) {
	switch {
	case st.then == nil:
		st.done <- err
	case err != nil:
		st.then(message.Cursor{}, err)
	default:
		st.then(st.m.Cursor(), nil)
	}
}

// Store keeps durable streams and retained messages; the store package
// implements it on disk.
type Store interface {
	Epoch() string
	// Reserved is the highest sequence possibly handed out before; Reserve
	// durably raises it, so that sequences are never reused after a crash.
	Reserved() uint64
	Reserve(upTo uint64) error
	Durable(name string) bool
	// Covered reports whether every topic a filter matches is durable.
	Covered(filter string) bool
	// Stage adds a message to the next Commit (durable record, retained update).
	Stage(m *message.Message)
	Commit() error
	Retained() ([]*message.Message, error)
	Replay(filters []string, after, upTo uint64, limit int) (msgs []*message.Message, last uint64, done bool, err error)
	Gap(filters []string, after uint64) bool
	SeqAtTime(t time.Time, upTo uint64) (uint64, error)
	LastN(filters []string, n int, upTo uint64) (after uint64, found int, err error)
}

// reserveStep is how many sequences one durable reservation covers.
const reserveStep = 1 << 20

// replayPage is how many stored messages a catching-up subscription loads at once.
const replayPage = 1000

// New makes a hub. A nil observer discards events; a nil broker keeps
// messages on this node (the local broker, with store if not nil: else
// everything stays in memory). A shared broker owns storage: store must
// then be nil.
func New(cfg Config, log *slog.Logger, observe Observer, broker Broker, store Store) (*Hub, error) {
	if observe == nil {
		observe = nopObserver{}
	}
	if broker != nil && store != nil {
		return nil, errors.New("hub: a shared broker keeps its own store")
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = Defaults().MaxPayload
	}
	h := &Hub{
		cfg:      cfg,
		log:      log,
		observe:  observe,
		broker:   broker,
		epoch:    newEpoch(),
		subs:     index.New[*Subscription](),
		retained: make(map[string]*message.Message),
		live:     make(map[*Subscription]struct{}),
		walkers:  newWalkers(log),
	}
	h.queues.total = cfg.QueueTotal
	h.history.limits = cfg
	if store != nil {
		h.store = store
		h.epoch = store.Epoch()
		h.seq = store.Reserved()
		h.reserved = h.seq
		h.history.evicted = h.seq // older messages are on disk or gone
		retained, err := store.Retained()
		if err != nil {
			return nil, fmt.Errorf("hub: load retained messages: %w", err)
		}
		for _, m := range retained {
			h.putRetainedLocked(m)
		}
		h.commitWake = make(chan struct{}, 1)
		h.committerDone = make(chan struct{})
		go h.committer()
	}
	if broker == nil {
		h.broker = localBroker{h}
		return h, nil
	}
	h.names, _ = broker.(NameChecker)
	if err := h.joinBroker(broker); err != nil {
		return nil, err
	}
	return h, nil
}

// joinBroker takes a shared broker's epoch and retained messages and
// starts delivering what it carries.
func (h *Hub) joinBroker(b Broker) error {
	h.epoch = b.Epoch()
	h.seq = b.Head()
	h.history.evicted = h.seq // older messages are in the broker
	retained, err := b.Retained(context.Background())
	if err != nil {
		return fmt.Errorf("hub: load retained messages from the broker: %w", err)
	}
	for _, m := range retained {
		h.putRetainedLocked(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stopRun, h.runDone = cancel, make(chan struct{})
	go func() {
		defer close(h.runDone)
		if err := b.Run(ctx, h.deliverShared); err != nil && ctx.Err() == nil {
			h.log.Error("broker stopped delivering", "err", err)
		}
	}()
	return nil
}

func newEpoch() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<40))
	if err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return strconv.FormatInt(n.Int64(), 36)
}

// Epoch identifies this hub's history; cursors from another epoch are gaps.
func (h *Hub) Epoch() string { return h.epoch }

// Publish validates m, stamps it and hands it to the broker, which delivers
// it to every node. It returns the message's cursor, the same on every node.
func (h *Hub) Publish(ctx context.Context, m *message.Message) (message.Cursor, error) {
	if err := h.admit(ctx, m); err != nil {
		return message.Cursor{}, err
	}
	c, err := h.broker.Publish(ctx, m)
	if err != nil {
		return message.Cursor{}, fmt.Errorf("hub: publish %q: %w", m.Topic, err)
	}
	return c, nil
}

// PublishAsync is Publish for a publisher that keeps reading while its
// message is stored, as an MQTT connection with many QoS 1 publishes in
// flight does: the store then commits many of them with one fsync. done
// gets what Publish would have returned, once Publish would have returned
// it: for a durable topic after the commit, on the committer's goroutine.
// It runs exactly once, with no hub lock held, and for the publishes of
// one goroutine in the order they were made; it must not block.
func (h *Hub) PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error)) {
	if err := h.admit(ctx, m); err != nil {
		done(message.Cursor{}, err)
		return
	}
	if _, local := h.broker.(localBroker); local {
		h.deliverLocalAsync(m, done)
		return
	}
	tell := func(c message.Cursor, err error) {
		if err != nil {
			c, err = message.Cursor{}, fmt.Errorf("hub: publish %q: %w", m.Topic, err)
		}
		done(c, err)
	}
	if ab, ok := h.broker.(AsyncPublisher); ok {
		ab.PublishAsync(ctx, m, tell)
		return
	}
	tell(h.broker.Publish(ctx, m))
}

// ValidateName checks a topic name a message may be published to: the
// topic grammar, and what the broker can carry (a cluster's NATS subjects).
func (h *Hub) ValidateName(name string) error {
	if !topic.IsValidName(name) {
		return topic.ValidateName(name)
	}
	if h.names != nil {
		return h.names.CheckName(name)
	}
	return nil
}

// ValidateFilter checks a subscription filter as ValidateName checks a name.
func (h *Hub) ValidateFilter(filter string) error {
	if err := topic.ValidateFilter(filter); err != nil {
		return err
	}
	if h.names != nil {
		return h.names.CheckFilter(filter)
	}
	return nil
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

// deliverShared fans out a message a shared broker delivers with its
// position set, in position order: another node's, or this node's own
// coming back.
func (h *Hub) deliverShared(m *message.Message) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.seq = max(h.seq, m.Seq)
	var wakes wakeList
	h.fanoutLocked(m, &wakes)
	h.mu.Unlock()
	h.wake(&wakes)
}

// deliverLocal gives m its cursor on this node and fans it out: the local
// broker's Publish.
// A message that must be stored (durable topic, retained) is fanned out,
// and deliverLocal returns, only once the store committed it; messages that
// follow it wait in order, so subscribers see cursors in order.
func (h *Hub) deliverLocal(m *message.Message) error {
	var wakes wakeList
	st, err := h.stageLocal(m, nil, &wakes)
	h.wake(&wakes)
	if st == nil {
		return err
	}
	return <-st.done
}

// deliverLocalAsync is deliverLocal telling then instead of returning.
func (h *Hub) deliverLocalAsync(m *message.Message, then func(message.Cursor, error)) {
	var wakes wakeList
	st, err := h.stageLocal(m, then, &wakes)
	h.wake(&wakes)
	switch {
	case st != nil: // the committer calls then
	case err != nil:
		then(message.Cursor{}, err)
	default:
		then(m.Cursor(), nil)
	}
}

// stageLocal sequences m and fans it out at once if it need not be stored
// and nothing waits for a commit before it (st is then nil, and err whether
// it was refused); otherwise it stages m for the committer, which finishes
// the returned st. The caller wakes what the fan-out owed (wakes) once
// stageLocal has returned, with Hub.mu released.
func (h *Hub) stageLocal(m *message.Message, then func(message.Cursor, error), wakes *wakeList) (st *staged, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrShutdown
	}
	if h.store != nil && h.seq+1 > h.reserved {
		if err := h.store.Reserve(h.seq + reserveStep); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
		h.reserved = h.seq + reserveStep
	}
	h.seq++
	m.Seq, m.Epoch = h.seq, h.epoch
	store := h.store != nil && (m.Retain || h.store.Durable(m.Topic))
	if !store && len(h.staged) == 0 && !h.committing {
		h.fanoutLocked(m, wakes)
		return nil, nil
	}
	if store {
		h.store.Stage(m)
	}
	st = &staged{m: m, then: then}
	if then == nil {
		st.done = make(chan error, 1)
	}
	h.staged = append(h.staged, st)
	select { // under mu, so that Close cannot close the channel meanwhile
	case h.commitWake <- struct{}{}:
	default:
	}
	return st, nil
}

// committer commits staged messages, many per fsync, then fans them out.
func (h *Hub) committer() {
	defer close(h.committerDone)
	for range h.commitWake {
		for {
			h.mu.Lock()
			batch := h.staged
			h.staged = nil
			closed := h.closed
			h.committing = len(batch) > 0
			h.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			err := h.store.Commit()
			if err != nil {
				h.log.Error("store commit failed; publishes refused", "err", err, "messages", len(batch))
			}
			h.mu.Lock()
			var wakes wakeList
			if err == nil && !closed {
				for _, st := range batch {
					h.fanoutLocked(st.m, &wakes)
				}
			}
			h.mu.Unlock()
			h.wake(&wakes)
			// committing stays set until every publisher of the batch has
			// been told (the next round clears it), so that a later
			// message, fanned out at once, is never acknowledged before
			// one of these: PUBACKs go out in publish order.
			for _, st := range batch {
				st.finish(err)
			}
		}
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
		after := s.afterPublish.Load()
		if !s.enqueue(m, after == nil) {
			h.removeLocked(s)
		} else if after != nil {
			h.owe(wakes, s)
		}
	}
	clear(matched)
	h.matched = matched[:0]
}

// stopCommitter commits what is staged and stops the committer; the
// caller holds mu and has set closed.
func (h *Hub) stopCommitter() {
	if h.store == nil {
		return
	}
	close(h.commitWake)
	h.mu.Unlock()
	<-h.committerDone
	h.mu.Lock()
}

// stopBroker ends a shared broker's Run and waits for it; the caller
// holds mu and has set closed (deliverShared then does nothing).
func (h *Hub) stopBroker() {
	if h.stopRun == nil {
		return
	}
	h.stopRun()
	h.mu.Unlock()
	<-h.runDone
	h.mu.Lock()
}

// NewSubscription makes an empty subscription; add filters with Subscribe.
// After Close it returns a subscription that has already ended.
func (h *Hub) NewSubscription(transport string, limits QueueLimits) *Subscription {
	s := newSubscription(h, transport, limits)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.end(ErrShutdown)
		return s
	}
	h.live[s] = struct{}{}
	return s
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
		s.hub.subscribed(s, filters)
	}
	return start, err
}

func (s *Subscription) subscribe(filters []string, from StartFrom) (Start, error) {
	h := s.hub
	for _, f := range filters {
		if err := h.ValidateFilter(f); err != nil {
			return Start{}, err
		}
	}
	if from.FromSeq == 0 && (!from.Since.IsZero() || from.Last > 0) {
		after, err := h.position(filters, from)
		if err != nil {
			return Start{}, err
		}
		from.After = &message.Cursor{Epoch: h.epoch, Seq: after}
	}
	brokerGap := h.brokerGap(filters, from)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return Start{}, ErrShutdown
	}
	if err := s.Err(); err != nil {
		return Start{}, err
	}
	if h.cfg.MaxFilters > 0 {
		n := len(s.filters)
		for _, f := range filters {
			if _, ok := s.filters[f]; !ok {
				n++
			}
		}
		if n > h.cfg.MaxFilters {
			return Start{}, fmt.Errorf("%w: limit %d", ErrTooManySubscriptions, h.cfg.MaxFilters)
		}
	}
	start := Start{Head: message.Cursor{Epoch: h.epoch, Seq: h.seq}}
	if from.FromSeq > 0 {
		from.After = &message.Cursor{Epoch: h.epoch, Seq: from.FromSeq - 1}
	}
	if from.After != nil {
		asked := *from.After
		start.After = &asked
	}
	// A cursor of an epoch this hub does not know (another server's, or a
	// data directory since deleted) says nothing about what the client has
	// seen: replay everything still held, from the store as well as from
	// the window, and say a gap, as a cursor older than what is held does.
	foreign := from.After != nil && from.After.Epoch != h.epoch
	if foreign {
		from.After = &message.Cursor{Epoch: h.epoch, Seq: 0}
	}
	var backlog []Delivery
	evicted := h.history.evictedFor(filters)
	switch {
	case from.After != nil && from.After.Seq >= evicted:
		// The memory windows hold everything after the cursor.
		backlog, _ = h.history.after(from.After.Seq, filters)
	case from.After != nil && (h.store != nil || h.stopRun != nil):
		// Older than the windows: stored messages up to them (the local
		// store's, or a shared broker's), paged in as the subscriber
		// reads, then the windows.
		after := from.After.Seq
		s.catchUp(filters, after, evicted)
		start.Gap = brokerGap || h.store != nil && (h.store.Gap(filters, after) || !h.covered(filters))
		backlog, _ = h.history.after(evicted, filters)
	case from.After != nil:
		backlog, start.Gap = h.history.after(from.After.Seq, filters)
	case from.Retained:
		backlog = h.retainedMatching(filters)
	}
	start.Gap = start.Gap || foreign
	if from.After != nil {
		// A shared broker's node may not have delivered up to a cursor
		// taken on another node yet: what it delivers late, up to the
		// cursor, the client has seen.
		s.floor = max(s.floor, from.After.Seq)
	}
	if s.readCheck != nil {
		backlog = slices.DeleteFunc(backlog, func(d Delivery) bool { return !s.readCheck(d.Msg.Topic) })
	}
	s.enqueueBacklog(backlog)
	for _, f := range filters {
		if _, ok := s.filters[f]; !ok {
			s.filters[f] = struct{}{}
			h.subs.Add(f, s)
		}
	}
	return start, nil
}

// brokerGap asks a shared broker whose retention removes messages
// whether some a resume asks for are gone (I/O: without Hub.mu). Only a
// resume older than the memory windows uses the answer.
func (h *Hub) brokerGap(filters []string, from StartFrom) bool {
	g, ok := h.broker.(GapReporter)
	if !ok {
		return false
	}
	var after uint64
	switch {
	case from.FromSeq > 0:
		after = from.FromSeq - 1
	case from.After != nil && from.After.Epoch == h.epoch:
		after = from.After.Seq
	default:
		return false // no resume, or a foreign cursor (a gap anyway)
	}
	// A resume the memory windows hold (every long poll, most SSE
	// reconnects) costs no request. Should the windows lose it before
	// Subscribe takes Hub.mu, the broker still replays what it holds.
	h.mu.Lock()
	inWindows := after >= h.history.evictedFor(filters)
	h.mu.Unlock()
	if inWindows {
		return false
	}
	gap, err := g.Gap(context.Background(), filters, after)
	if err != nil {
		h.log.Warn("broker: could not tell whether history is gone; no gap reported", "err", err)
	}
	return gap
}

// position turns a time or a count into the sequence to replay after,
// looking in the memory windows (under Hub.mu) first and then in the
// broker's stored messages (the local store's, or a cluster's stream)
// without Hub.mu, which fan-out needs: what is stored up to the windows
// does not change meanwhile, and whatever the windows lose meanwhile the
// resume reads from the broker.
func (h *Hub) position(filters []string, from StartFrom) (uint64, error) {
	after, found, ok, evicted := h.positionInWindows(filters, from)
	var err error
	switch {
	case ok:
		return after, nil
	case from.Last > 0:
		after, _, err = h.broker.LastN(context.Background(), filters, from.Last-found, evicted)
	default:
		after, err = h.broker.SeqAtTime(context.Background(), filters, from.Since, evicted)
	}
	if err != nil {
		return 0, fmt.Errorf("hub: place the start in stored history: %w", err)
	}
	return after, nil
}

// positionInWindows answers position from the memory windows if they
// reach back far enough (ok); else it returns how many of the last
// messages they hold (found) and up to which sequence the store must look.
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

// covered reports whether every filter matches durable topics only.
func (h *Hub) covered(filters []string) bool {
	for _, f := range filters {
		if !h.store.Covered(f) {
			return false
		}
	}
	return true
}

// Unsubscribe removes filters from s; queued messages stay queued.
func (s *Subscription) Unsubscribe(filters []string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range filters {
		if _, ok := s.filters[f]; ok {
			delete(s.filters, f)
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
	for f := range s.filters {
		h.subs.Remove(f, s)
	}
	clear(s.filters)
	delete(h.live, s)
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
	Seq           uint64
	QueuedBytes   int64 // live messages in every subscriber queue
}

// Stats returns current counts.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Subscriptions: len(h.live), Filters: h.subs.Len(), Retained: len(h.retained), History: h.history.len(),
		HistoryBytes: h.history.bytes, Seq: h.seq, QueuedBytes: h.queues.bytes.Load()}
}

// Close ends every subscription with ErrShutdown and refuses new work.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.stopCommitter()
	h.stopBroker()
	live := h.live
	h.live = nil
	h.subs = index.New[*Subscription]()
	for s := range live {
		clear(s.filters)
	}
	h.mu.Unlock()
	for s := range live {
		s.end(ErrShutdown)
	}
}
