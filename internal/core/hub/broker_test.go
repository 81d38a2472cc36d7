package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"streamhub/internal/core/engine"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// sharedLog is a second engine behind the seam, in memory: one log that
// several hubs (nodes) share, with positions of its own, delivering to
// each node through Run as JetStream's consumers would.
type sharedLog struct {
	mu    sync.Mutex
	msgs  []*message.Message
	nodes []chan *message.Message
}

// node is one hub's view of the log.
type logNode struct {
	log  *sharedLog
	in   chan *message.Message
	head uint64
	// pause, while locked by a test, holds this node's deliveries back:
	// a node lagging behind the log.
	pause sync.Mutex
	// refuse replays that many times as unavailable; fail them always.
	refuse atomic.Int32
	fail   error
	// stop ends the delivery Start began; stopped is closed when it has.
	stop, stopped chan struct{}
}

func (l *sharedLog) node() *logNode {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := &logNode{log: l, in: make(chan *message.Message, 1024), head: uint64(len(l.msgs))}
	l.nodes = append(l.nodes, n.in)
	return n
}

// copyFor gives each node a message value of its own, as a network would.
func copyFor(m *message.Message) *message.Message {
	return &message.Message{Topic: m.Topic, Payload: m.Payload, Retain: m.Retain, Time: m.Time, Seq: m.Seq, Epoch: m.Epoch}
}

func (n *logNode) Epoch() string { return "shared" }

func (n *logNode) Head() uint64 { return n.head }

func (n *logNode) Publish(_ context.Context, m *message.Message) (message.Cursor, error) {
	l := n.log
	l.mu.Lock()
	defer l.mu.Unlock()
	m.Seq, m.Epoch = uint64(len(l.msgs)+1), "shared"
	l.msgs = append(l.msgs, copyFor(m))
	for _, in := range l.nodes {
		in <- copyFor(m)
	}
	return m.Cursor(), nil
}

// Start delivers the log's messages to sink, on a goroutine, until Stop.
func (n *logNode) Start(sink engine.Sink) error {
	n.stop, n.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(n.stopped)
		for {
			select {
			case <-n.stop:
				return
			case m := <-n.in:
				n.pause.Lock()
				sink.Deliver(m)
				n.pause.Unlock()
			}
		}
	}()
	return nil
}

func (n *logNode) Stop() {
	close(n.stop)
	<-n.stopped
}

func (n *logNode) PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error)) {
	done(n.Publish(ctx, m))
}

// Place finds a time or a count in the log; nothing is ever removed from
// it, so no start is a gap.
func (n *logNode) Place(ctx context.Context, filters []string, from engine.From, upTo uint64) (engine.Placed, error) {
	p := engine.Placed{After: from.After, Replay: true}
	switch {
	case !from.Since.IsZero():
		p.After, _ = n.seqAtTime(from.Since, upTo)
	case from.Last > 0:
		p.After = n.lastN(filters, from.Last, upTo)
	}
	return p, nil
}

func (*logNode) Durable(string) bool      { return true }
func (*logNode) CheckName(string) error   { return nil }
func (*logNode) CheckFilter(string) error { return nil }
func (*logNode) Stats() engine.Stats      { return engine.Stats{} }

func (n *logNode) Replay(_ context.Context, filters []string, after, upTo uint64, limit int) ([]*message.Message, uint64, bool, error) {
	if n.fail != nil {
		return nil, after, false, n.fail
	}
	if n.refuse.Add(-1) >= 0 {
		return nil, after, false, fmt.Errorf("log: %w", ErrUnavailable)
	}
	l := n.log
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*message.Message
	last := after
	for _, m := range l.msgs[min(after, uint64(len(l.msgs))):min(upTo, uint64(len(l.msgs)))] {
		if len(out) == limit {
			return out, last, false, nil
		}
		last = m.Seq
		if topic.MatchAny(filters, m.Topic) {
			out = append(out, copyFor(m))
		}
	}
	return out, upTo, true, nil
}

func (n *logNode) Retained(context.Context) ([]*message.Message, error) {
	l := n.log
	l.mu.Lock()
	defer l.mu.Unlock()
	latest := map[string]*message.Message{}
	for _, m := range l.msgs {
		if m.Retain {
			latest[m.Topic] = m
		}
	}
	var out []*message.Message
	for _, m := range latest {
		if len(m.Payload) > 0 {
			out = append(out, copyFor(m))
		}
	}
	return out, nil
}

func (n *logNode) seqAtTime(t time.Time, upTo uint64) (uint64, error) {
	l := n.log
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs[:min(upTo, uint64(len(l.msgs)))] {
		if !m.Time.Before(t) {
			return m.Seq - 1, nil
		}
	}
	return upTo, nil
}

func (n *logNode) lastN(filters []string, want int, upTo uint64) uint64 {
	l := n.log
	l.mu.Lock()
	defer l.mu.Unlock()
	found := 0
	for i := min(upTo, uint64(len(l.msgs))); i > 0; i-- {
		if m := l.msgs[i-1]; topic.MatchAny(filters, m.Topic) {
			if found++; found == want {
				return m.Seq - 1
			}
		}
	}
	return 0
}

func newNode(t *testing.T, l *sharedLog) *Hub {
	h, _ := newPausableNode(t, l)
	return h
}

func newPausableNode(t *testing.T, l *sharedLog) (*Hub, *logNode) {
	n := l.node()
	h, err := New(Defaults(), slog.New(slog.DiscardHandler), nil, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, n
}

// drainWithin collects s's deliveries until it holds n of them.
func drainWithin(t *testing.T, s *Subscription, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case <-s.Ready():
			got = append(got, payloads(s)...)
		case <-deadline:
			t.Fatalf("got %q, want %d messages", got, n)
		}
	}
	return got
}

// TestSharedBrokerAcrossNodes: two hubs on one shared broker: a message
// published on A reaches B's subscriber, a cursor taken on A resumes on B,
// and retained messages are the same on a node that starts later.
func TestSharedBrokerAcrossNodes(t *testing.T) {
	t.Parallel()
	l := &sharedLog{}
	a, b := newNode(t, l), newNode(t, l)
	onB := b.NewSubscription("test", QueueLimits{})
	if _, err := onB.Subscribe([]string{"room/#"}, StartFrom{}); err != nil {
		t.Fatal(err)
	}
	first := publish(t, a, "room/1", "one", true)
	publish(t, a, "room/1", "two", false)
	equal(t, drainWithin(t, onB, 2), "one", "two")

	resumed := b.NewSubscription("test", QueueLimits{})
	if start, err := resumed.Subscribe([]string{"room/#"}, StartFrom{After: &first}); err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, payloads(resumed), "two")

	c := newNode(t, l)
	fresh := c.NewSubscription("test", QueueLimits{})
	if _, err := fresh.Subscribe([]string{"room/+"}, StartFrom{Retained: true}); err != nil {
		t.Fatal(err)
	}
	equal(t, payloads(fresh), "R:one")
	for _, h := range []*Hub{a, b} { // A delivers its own publish through Run, maybe later
		deadline := time.Now().Add(5 * time.Second)
		for h.Retained("room/1") == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if m := h.Retained("room/1"); m == nil || string(m.Payload) != "one" {
			t.Fatalf("retained %v", m)
		}
	}
}

// TestResumeOnALaggingNode: a cursor taken on A, given to node B before B
// has delivered up to it, gets no message twice: B's late deliveries at
// or before the cursor are not queued for the resumed subscription.
func TestResumeOnALaggingNode(t *testing.T) {
	t.Parallel()
	l := &sharedLog{}
	a := newNode(t, l)
	b, lagging := newPausableNode(t, l)
	lagging.pause.Lock()
	publish(t, a, "t", "1", false)
	seen := publish(t, a, "t", "2", false)
	s := b.NewSubscription("test", QueueLimits{})
	if _, err := s.Subscribe([]string{"t"}, StartFrom{After: &seen}); err != nil {
		t.Fatal(err)
	}
	lagging.pause.Unlock()
	publish(t, a, "t", "3", false)
	equal(t, drainWithin(t, s, 1), "3")
}

// TestResumeRetriesAnUnavailableReplay: a resume older than a node's
// memory reads the log, which refuses twice as unavailable (a stream
// electing a leader); the replay is tried again and the subscriber gets
// every message, in order, before the live ones.
func TestResumeRetriesAnUnavailableReplay(t *testing.T) {
	t.Parallel()
	l := &sharedLog{}
	a := newNode(t, l)
	for i := range 5 {
		publish(t, a, "t", fmt.Sprint(i), false)
	}
	b, nb := newPausableNode(t, l)
	nb.refuse.Store(2)
	s := b.NewSubscription("test", QueueLimits{})
	if _, err := s.Subscribe([]string{"t"}, StartFrom{After: &message.Cursor{Epoch: "shared"}}); err != nil {
		t.Fatal(err)
	}
	publish(t, a, "t", "live", false)
	equal(t, drainWithin(t, s, 6), "0", "1", "2", "3", "4", "live")
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

// TestResumeEndsWhenReplayFails: a replay that fails for good ends the
// subscription with the error (its client resumes), instead of going on
// live without the history it asked for.
func TestResumeEndsWhenReplayFails(t *testing.T) {
	t.Parallel()
	l := &sharedLog{}
	a := newNode(t, l)
	publish(t, a, "t", "0", false)
	b, nb := newPausableNode(t, l)
	nb.fail = errors.New("disk on fire")
	s := b.NewSubscription("test", QueueLimits{})
	if _, err := s.Subscribe([]string{"t"}, StartFrom{After: &message.Cursor{Epoch: "shared"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ready():
		s.Drain(nil)
	case <-time.After(5 * time.Second):
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription went on without its history")
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("ended with %v", err)
	}
}

// TestLastAndTimeReachPastTheWindowsOnASharedBroker: on nodes whose memory
// windows hold 2 messages, `last=5` and a start at a time find the
// other 3 in the broker's stored messages (as a cursor resume does), on
// the publishing node and on another: all 5, in order, and no gap.
func TestLastAndTimeReachPastTheWindowsOnASharedBroker(t *testing.T) {
	t.Parallel()
	l := &sharedLog{}
	small := func() *Hub {
		cfg := Defaults()
		cfg.HistoryMessages = 2
		h, err := New(cfg, slog.New(slog.DiscardHandler), nil, l.node())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		return h
	}
	a, b := small(), small()
	publish(t, a, "t/x", "before", false)
	since := time.Now()
	time.Sleep(time.Millisecond) // the clock moves on: "before" is stamped before since
	var last message.Cursor
	for i := range 5 {
		last = publish(t, a, "t/x", fmt.Sprint(i+1), false)
	}
	for _, h := range []*Hub{a, b} {
		deadline := time.Now().Add(5 * time.Second)
		for h.Stats().Seq < last.Seq && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // Run delivers each node's copy
		}
		if n := h.Stats().History; n != 2 {
			t.Fatalf("memory windows hold %d messages, want 2", n)
		}
		for _, from := range []StartFrom{{Last: 5}, {Since: since}} {
			s := h.NewSubscription("test", QueueLimits{})
			start, err := s.Subscribe([]string{"t/#"}, from)
			if err != nil || start.Gap {
				t.Fatal(err, start)
			}
			equal(t, drainWithin(t, s, 5), "1", "2", "3", "4", "5")
		}
	}
}
