package hub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/core/latch"
	"streamhub/internal/core/message"
)

// Subscription is one subscriber's bounded queue and its filters. The hub
// fills the queue without ever blocking; the transport's writer drains it
// whenever Ready fires, in order.
type Subscription struct {
	// kind is its hub, transport's name and queue limits, one copy per
	// hub (Hub.kindLocked) shared by every subscription of the same kind.
	kind *subKind
	// prev and next link the hub's live subscriptions (Hub.live), in
	// place of a set: guarded by Hub.mu.
	prev, next *Subscription

	// Guarded by hub.mu.
	filters filterSet
	lastSeq uint64 // dedupes a message matched through several filters
	floor   uint64 // live messages at or before it are not queued: a resume's cursor

	mu    sync.Mutex
	queue []entry
	// live and bytes count the queued live messages: the limits apply to
	// them, not to a backlog of retained or replayed messages, which is
	// bounded by the store it came from.
	bytes   int
	dropped uint64

	// readCheck, when set, is asked about every message before it is
	// queued: the security policy's answer for a subscription whose
	// wildcards reach topics its owner may not read. Written under both
	// Hub.mu and mu; read under either.
	readCheck func(topic string) bool

	// catch, while set, pages stored messages in ahead of the queue;
	// paged counts the page's entries still at the queue's front.
	catch *catchUp
	// live counts beside paged, in one word with the two flags after
	// them (limits are clamped to fit live: withDefaults; a page holds
	// at most replayPage entries).
	live    int32
	paged   uint16
	loading bool // a drainer reads the next page without s.mu
	// ended is set when the subscription ends, its reason in signals.err
	// (16 B a live subscription would hold for nothing).
	ended bool

	// sig is made on first use (Ready, Done, Notify, NotifyAfterPublish,
	// OnOverflow, a signal, the end): a subscription with hooks never
	// needs it.
	sig atomic.Pointer[signals]
	// hooks, when set (NewSubscriptionWith), replaces notify and overflow:
	// one interface, set before the subscription is shared, in place of
	// a closure each.
	hooks Hooks
}

// signals are how a subscription without hooks tells its transport.
type signals struct {
	// ready and done's channel are made when first asked for (Ready,
	// Done): a subscriber served by Notify never reads them. ready is
	// written under Subscription.mu; done closes in endLocked.
	ready atomic.Pointer[chan struct{}]
	done  latch.Latch
	// notify, when set, replaces ready: called (without blocking, possibly
	// under hub locks) whenever messages are queued or the subscription
	// ends, so a transport can start a writer only when there is work.
	notify atomic.Pointer[func()]
	// afterPublish, when set, replaces notify for live messages a publish
	// queued: called once the publish released Hub.mu (see wake.go).
	afterPublish atomic.Pointer[func()]
	// overflow, when set, is told (like notify) each time the DropOldest
	// policy drops messages; it reports whether it cut the consumer off.
	// Guarded by Subscription.mu.
	overflow func(dropped *message.Message) bool
	// err is why the subscription ended (set with Subscription.ended,
	// guarded by Subscription.mu).
	err error
	// signalled is set by every signal, so that a Ready made afterwards
	// starts signalled as the channel would have been.
	signalled atomic.Bool
}

// signals returns s's signals, made on first use.
func (s *Subscription) signals() *signals {
	if p := s.sig.Load(); p != nil {
		return p
	}
	s.sig.CompareAndSwap(nil, &signals{})
	return s.sig.Load()
}

// afterPublishFunc is NotifyAfterPublish's f, nil for none.
func (s *Subscription) afterPublishFunc() *func() {
	if p := s.sig.Load(); p != nil {
		return p.afterPublish.Load()
	}
	return nil
}

// Hooks are a transport's callbacks on a subscription, as Notify's and
// OnOverflow's functions: Notify like Notify's f, Overflowed like
// OnOverflow's f. Neither may block.
type Hooks interface {
	Notify()
	Overflowed(dropped *message.Message) bool
}

// subKind is what every subscription of one transport with the same
// limits shares.
type subKind struct {
	hub       *Hub
	transport string
	limits    QueueLimits
}

type catchUp struct {
	filters []string
	after   uint64 // last sequence loaded
	upTo    uint64 // the memory window starts after this
	// failures counts replays the engine refused in a row as unavailable
	// (a cluster's stream electing a leader); none is tried before
	// retryAt.
	failures int
	retryAt  time.Time
}

// A replay the engine refuses as unavailable is tried again replayRetries
// times, waiting replayBackoff, then twice as long each time (about 16 s
// in all), before the subscription ends.
// ErrReplay ends a subscription whose resume could not be read.
var ErrReplay = errors.New("replay failed")

const (
	replayRetries = 6
	replayBackoff = 250 * time.Millisecond
)

// withDefaults fills the limits left unset.
func (limits QueueLimits) withDefaults() QueueLimits {
	if limits.Messages <= 0 {
		limits.Messages = 1024
	}
	limits.Messages = min(limits.Messages, math.MaxInt32) // live is 32 bits
	if limits.Bytes <= 0 {
		limits.Bytes = 16 << 20
	}
	return limits
}

// Ready receives a value when messages are waiting.
func (s *Subscription) Ready() <-chan struct{} {
	sig := s.signals()
	if p := sig.ready.Load(); p != nil {
		return *p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := sig.ready.Load(); p != nil {
		return *p
	}
	ready := make(chan struct{}, 1)
	sig.ready.Store(&ready)
	if sig.signalled.Load() { // signalled before there was a channel
		select {
		case ready <- struct{}{}:
		default: // or by a signal just now
		}
	}
	return ready
}

// Notify makes the subscription call f instead of signalling Ready when
// messages are queued and when it ends. f must not block nor take locks
// held around DrainUpTo. Set after subscribing (an on-demand writer), it
// takes over from the next signal: the setter drains what Ready signalled
// before.
func (s *Subscription) Notify(f func()) {
	s.signals().notify.Store(&f)
}

// OnOverflow makes the subscription call f whenever its DropOldest policy
// drops messages (dropped is the newest of them), so a transport can tell
// a connected client that it is too slow and disconnect it, while a
// detached session (nobody to tell) keeps dropping its oldest. f reports
// whether it cut a consumer off, which is counted as a slow-consumer
// disconnect. Like Notify, f must not block; call it before subscribing.
func (s *Subscription) OnOverflow(f func(dropped *message.Message) bool) {
	sig := s.signals()
	s.mu.Lock()
	sig.overflow = f
	s.mu.Unlock()
}

// Done is closed when the subscription ends; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.signals().done.Done() }

// Ended reports whether the subscription has ended (Done is closed),
// without making Done's channel.
func (s *Subscription) Ended() bool { return s.Err() != nil }

// Err is nil while the subscription is live, else the reason it ended.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		return nil
	}
	return s.sig.Load().err
}

// Dropped is the number of messages discarded by the DropOldest policy.
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Delivery is one queued message. Retained marks a retained message sent
// because the subscription was made, not because it was just published.
type Delivery struct {
	Msg      *message.Message
	Retained bool
}

type entry struct {
	Delivery
	backlog bool
}

// account adds n live messages of the given bytes (negative to remove)
// to this queue's counters and to the hub's total; the caller holds s.mu.
func (s *Subscription) account(n, bytes int) {
	was := int(s.live)
	s.live += int32(n)
	s.bytes += bytes
	s.kind.hub.queues.add(was, int(s.live), bytes)
}

// Drain appends every queued delivery to buf, oldest first, and empties the
// queue. Passing back the previous batch's slice avoids allocation.
func (s *Subscription) Drain(buf []Delivery) []Delivery {
	return s.DrainUpTo(buf, int(^uint(0)>>1))
}

// DrainUpTo is Drain for at most n deliveries; the rest stay queued.
func (s *Subscription) DrainUpTo(buf []Delivery, n int) []Delivery {
	return s.DrainBounded(buf, n, int(^uint(0)>>1))
}

// DrainBounded is DrainUpTo that also stops once the deliveries taken
// reach maxBytes (always taking at least one), so that a writer batching
// large messages holds a bounded output.
func (s *Subscription) DrainBounded(buf []Delivery, n, maxBytes int) []Delivery {
	s.pageIn()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catch != nil && s.paged == 0 {
		// Another drainer is loading the next page (or the store
		// failed): live messages must not overtake it. Its loader
		// signals when the page is in.
		return buf[:0]
	}
	n = min(n, len(s.queue))
	buf = buf[:0]
	live, bytes, taken := 0, 0, 0
	for _, e := range s.queue[:n] {
		buf = append(buf, e.Delivery)
		size := e.Msg.Size()
		taken += size
		if !e.backlog {
			live++
			bytes += size
		}
		if taken >= maxBytes {
			break
		}
	}
	n = len(buf)
	s.paged -= uint16(min(n, int(s.paged)))
	if live > 0 {
		s.account(-live, -bytes)
	}
	rest := s.takeFront(n)
	if rest > 0 || s.catch != nil {
		s.signal()
	}
	return buf
}

// takeFront removes the queue's first n entries and returns how many are
// left; the caller holds s.mu. The rest moves to the front of the array
// only when it is no longer than what was taken, so that the array is
// reused and a batch never costs more than its own length: moving a long
// backlog on every batch made draining it quadratic. Otherwise the slice
// just starts later, and append reallocates (dropping the taken front)
// when it reaches the end.
func (s *Subscription) takeFront(n int) int {
	rest := len(s.queue) - n
	if rest > n {
		clear(s.queue[:n])
		s.queue = s.queue[n:]
		return rest
	}
	copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	return rest
}

// catchUp arranges for stored messages in (after, upTo] to come first.
func (s *Subscription) catchUp(filters []string, after, upTo uint64) {
	s.mu.Lock()
	s.catch = &catchUp{filters: append([]string(nil), filters...), after: after, upTo: upTo}
	s.mu.Unlock()
	s.signal()
}

// pageIn puts the next page of stored messages at the queue's front
// when the previous page has been taken. The engine is read without s.mu,
// which fan-out takes (under Hub.mu) for every message it queues here: a
// slow page must not stall every publish. loading keeps a second drainer
// from reading the same page meanwhile.
func (s *Subscription) pageIn() {
	s.mu.Lock()
	c := s.catch
	if c == nil || s.paged > 0 || s.loading || s.ended || time.Now().Before(c.retryAt) {
		s.mu.Unlock()
		return
	}
	s.loading = true
	check := s.readCheck
	s.mu.Unlock()
	page, last, done, err := s.readPage(c, check)
	s.mu.Lock()
	s.loading = false
	if s.catch == c { // not replaced by a later Subscribe meanwhile
		s.applyPage(page, last, done, err)
	}
	s.mu.Unlock()
	s.signal()
}

// readPage reads stored messages after c.after until some pass check or
// the catch-up is done; it touches no field of s.
func (s *Subscription) readPage(c *catchUp, check func(string) bool) (page []entry, last uint64, done bool, err error) {
	last = c.after
	for {
		msgs, next, finished, err := s.kind.hub.engine.Replay(context.Background(), c.filters, last, c.upTo, replayPage)
		if err != nil {
			return nil, last, true, err
		}
		last = next
		for _, m := range msgs {
			m.SetAudience(1) // read for this subscription alone: encoded straight into its output
			if check == nil || check(m.Topic) {
				page = append(page, entry{Delivery: Delivery{Msg: m}, backlog: true})
			}
		}
		if len(page) > 0 || finished {
			return page, last, finished, nil
		}
	}
}

// applyPage queues a page read by readPage ahead of everything queued
// (all of which has later cursors); the caller holds s.mu. A replay that
// failed is tried again later if the engine was unavailable; otherwise,
// or after replayRetries, the subscription ends: its client resumes with
// its cursor (here or on another node) rather than miss what it asked for
// without being told.
func (s *Subscription) applyPage(page []entry, last uint64, done bool, err error) {
	if err != nil {
		c := s.catch
		if errors.Is(err, ErrUnavailable) && c.failures < replayRetries {
			wait := replayBackoff << c.failures
			c.failures++
			c.retryAt = time.Now().Add(wait)
			s.kind.hub.log.Warn("replay unavailable; trying again", "err", err, "in", wait)
			time.AfterFunc(wait, s.signal)
			return
		}
		s.kind.hub.log.Error("replay failed; subscription ended for its client to resume", "err", err)
		s.endLocked(fmt.Errorf("hub: %w: %w", ErrReplay, err))
		return
	}
	s.catch.failures = 0
	s.catch.after = last
	if done {
		s.catch = nil
	}
	s.queue = append(page, s.queue...)
	s.paged = uint16(len(page)) // at most replayPage (readPage)
}

// Restrict makes every message pass check before it reaches this
// subscription: live, retained, replayed or paged in from the store.
func (s *Subscription) Restrict(check func(topic string) bool) {
	s.kind.hub.mu.Lock()
	s.mu.Lock()
	s.readCheck = check
	s.mu.Unlock()
	s.kind.hub.mu.Unlock()
}

// Pending reports whether deliveries are queued or still to be paged in
// from the store.
func (s *Subscription) Pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0 || s.catch != nil
}

// enqueueBacklog queues retained or replayed messages past the limits: the
// backlog is bounded by the history and retained store it comes from.
func (s *Subscription) enqueueBacklog(ds []Delivery) {
	if len(ds) == 0 {
		return
	}
	s.mu.Lock()
	if !s.ended {
		for _, d := range ds {
			s.queue = append(s.queue, entry{Delivery: d, backlog: true})
		}
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	if s.hooks != nil {
		s.hooks.Notify()
		return
	}
	sig := s.signals()
	if f := sig.notify.Load(); f != nil {
		(*f)()
		return
	}
	if !sig.signalled.Load() {
		sig.signalled.Store(true)
	}
	if p := sig.ready.Load(); p != nil { // else a Ready made later starts signalled
		select {
		case *p <- struct{}{}:
		default:
		}
	}
}

// enqueue never blocks: a full queue applies the subscription's policy. It
// reports false when the policy ended the subscription. It signals the
// subscription when signal is set; otherwise the caller wakes it later.
func (s *Subscription) enqueue(m *message.Message, signal bool) bool {
	size := m.Size()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return true
	}
	drops := 0
	var dropped *message.Message
	for s.full(size) {
		if s.kind.limits.Overflow == Disconnect {
			s.endLocked(ErrSlowConsumer)
			s.mu.Unlock()
			s.kind.hub.observe.SlowConsumer(s.kind.transport)
			return false
		}
		dropped = s.dropOldestLive()
		s.dropped++
		drops++
	}
	s.queue = append(s.queue, entry{Delivery: Delivery{Msg: m}})
	s.account(1, size)
	var overflow func(*message.Message) bool
	if sig := s.sig.Load(); sig != nil {
		overflow = sig.overflow
	}
	s.mu.Unlock()
	if drops > 0 {
		s.kind.hub.observe.Dropped(s.kind.transport, drops)
		cut := false
		switch {
		case s.hooks != nil:
			cut = s.hooks.Overflowed(dropped)
		case overflow != nil:
			cut = overflow(dropped)
		}
		if cut {
			s.kind.hub.observe.SlowConsumer(s.kind.transport)
		}
	}
	if signal {
		s.signal()
	}
	return true
}

// full reports whether a message of size bytes does not fit: past this
// queue's limits, or past the hub's total while this queue holds more than
// its share of it. An empty queue always takes one message. The caller
// holds s.mu.
func (s *Subscription) full(size int) bool {
	if s.live == 0 {
		return false
	}
	return int(s.live)+1 > s.kind.limits.Messages || s.bytes+size > s.kind.limits.Bytes || s.kind.hub.queues.over(s.bytes, size)
}

// dropOldestLive removes the oldest live message, keeping any backlog,
// and returns it.
func (s *Subscription) dropOldestLive() *message.Message {
	i := 0
	for s.queue[i].backlog {
		i++
	}
	m := s.queue[i].Msg
	s.account(-1, -m.Size())
	if i == 0 {
		s.queue[0] = entry{}
		s.queue = s.queue[1:]
		return m
	}
	copy(s.queue[i:], s.queue[i+1:])
	s.queue[len(s.queue)-1] = entry{}
	s.queue = s.queue[:len(s.queue)-1]
	return m
}

func (s *Subscription) endLocked(err error) {
	if s.ended {
		return
	}
	s.ended = true
	clear(s.queue)
	s.queue = nil
	s.account(-int(s.live), -s.bytes)
	sig := s.signals() // Done may be asked for after the end
	sig.err = err
	sig.done.Close()
	if s.hooks != nil {
		s.hooks.Notify()
	} else if f := sig.notify.Load(); f != nil {
		(*f)()
	}
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	s.endLocked(err)
	s.mu.Unlock()
}

// Close unsubscribes every filter and ends the subscription.
func (s *Subscription) Close() {
	s.kind.hub.unsubscribeAll(s)
	s.end(ErrClosed)
}
