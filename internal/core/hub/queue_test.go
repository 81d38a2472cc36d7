package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"streamhub/internal/core/message"
)

// countingObserver records what the hub reports, by transport.
type countingObserver struct {
	mu      sync.Mutex
	dropped map[string]int
	slow    map[string]int
}

func (o *countingObserver) Dropped(transport string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropped[transport] += n
}

func (o *countingObserver) SlowConsumer(transport string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.slow[transport]++
}

func newObservedHub(t *testing.T, cfg Config) (*Hub, *countingObserver) {
	o := &countingObserver{dropped: map[string]int{}, slow: map[string]int{}}
	h, err := New(cfg, slog.New(slog.DiscardHandler), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, o
}

func subscribeAll(t *testing.T, subs ...*Subscription) {
	t.Helper()
	for _, s := range subs {
		if _, err := s.Subscribe([]string{"#"}, StartFrom{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQueueTotalBoundsStalledConsumers: past the total all queues may hold,
// the queue of a consumer that stopped reading gives way (it drops its
// oldest, or is cut off, by its policy), while a consumer that keeps up
// loses nothing.
func TestQueueTotalBoundsStalledConsumers(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("x", 100)
	size := (&message.Message{Topic: "t", Payload: []byte(payload)}).Size()
	cfg := Defaults()
	cfg.QueueTotal = int64(20 * size)
	h, o := newObservedHub(t, cfg)
	roomy := QueueLimits{Messages: 1 << 20, Bytes: 1 << 30}
	stalled := h.NewSubscription("stalled", roomy)
	cut := h.NewSubscription("cut", QueueLimits{Messages: roomy.Messages, Bytes: roomy.Bytes, Overflow: Disconnect})
	healthy := h.NewSubscription("healthy", roomy)
	subscribeAll(t, stalled, cut, healthy)
	got := 0
	for i := range 1000 {
		publish(t, h, "t", payload, false)
		got += len(healthy.Drain(nil))
		if q := h.Stats().QueuedBytes; q > 2*cfg.QueueTotal {
			t.Fatalf("after %d publishes the queues hold %d bytes, total %d", i+1, q, cfg.QueueTotal)
		}
	}
	if got != 1000 || o.dropped["healthy"] != 0 {
		t.Fatalf("healthy consumer got %d of 1000, dropped %d", got, o.dropped["healthy"])
	}
	if o.dropped["stalled"] == 0 || stalled.Dropped() != uint64(o.dropped["stalled"]) {
		t.Fatalf("stalled consumer dropped %d (counted %d)", stalled.Dropped(), o.dropped["stalled"])
	}
	if !errors.Is(cut.Err(), ErrSlowConsumer) || o.slow["cut"] != 1 {
		t.Fatalf("consumer with the disconnect policy: err %v, counted %d", cut.Err(), o.slow["cut"])
	}
}

// TestQueueTotalAccounting: the hub's total follows queues as they fill,
// drain, drop and end.
func TestQueueTotalAccounting(t *testing.T) {
	t.Parallel()
	h, _ := newObservedHub(t, Defaults())
	a := h.NewSubscription("a", QueueLimits{Messages: 3, Overflow: DropOldest})
	b := h.NewSubscription("b", QueueLimits{})
	subscribeAll(t, a, b)
	m := &message.Message{Topic: "t", Payload: []byte("12345")}
	for i := range 5 {
		publish(t, h, "t", "12345", false)
		want := int64((min(i+1, 3) + i + 1) * m.Size())
		if q := h.Stats().QueuedBytes; q != want {
			t.Fatalf("after %d publishes: %d queued bytes, want %d", i+1, q, want)
		}
	}
	b.DrainUpTo(nil, 2)
	if q, want := h.Stats().QueuedBytes, int64(6*m.Size()); q != want {
		t.Fatalf("after a partial drain: %d queued bytes, want %d", q, want)
	}
	a.Close()
	b.Drain(nil)
	if st := h.Stats(); st.QueuedBytes != 0 || h.queues.queues.Load() != 0 {
		t.Fatalf("empty queues still counted: %d bytes, %d queues", st.QueuedBytes, h.queues.queues.Load())
	}
}

// TestOverflowHook: a DropOldest queue that overflows tells its transport,
// which may cut the consumer off; that is counted once per cut.
func TestOverflowHook(t *testing.T) {
	t.Parallel()
	h, o := newObservedHub(t, Defaults())
	s := h.NewSubscription("mqtt", QueueLimits{Messages: 2, Overflow: DropOldest})
	calls := 0
	var newest []string
	s.OnOverflow(func(dropped *message.Message) bool {
		calls++
		newest = append(newest, string(dropped.Payload))
		return calls == 1
	})
	subscribeAll(t, s)
	for i := range 5 {
		publish(t, h, "t", fmt.Sprint(i), false)
	}
	equal(t, payloads(s), "3", "4")
	equal(t, newest, "0", "1", "2")
	if calls != 3 || o.dropped["mqtt"] != 3 || o.slow["mqtt"] != 1 {
		t.Fatalf("hook called %d times, %d dropped, %d cut off; want 3, 3, 1", calls, o.dropped["mqtt"], o.slow["mqtt"])
	}
}

// TestDrainBoundedStopsAtBytes: a writer asking for at most maxBytes gets
// the messages up to the one that reaches it, at least one, and the rest
// stay queued and counted.
func TestDrainBoundedStopsAtBytes(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Defaults())
	s := h.NewSubscription("a", QueueLimits{Messages: 100, Bytes: 1 << 30})
	subscribeAll(t, s)
	big := string(make([]byte, 1000))
	for range 10 {
		publish(t, h, "t", big, false)
	}
	size := (&message.Message{Topic: "t", Payload: []byte(big)}).Size()
	if got := len(s.DrainBounded(nil, 256, 3*size)); got != 3 {
		t.Fatalf("took %d messages for 3 messages' bytes", got)
	}
	if got := len(s.DrainBounded(nil, 256, 1)); got != 1 {
		t.Fatalf("took %d messages with less room than one: want exactly one", got)
	}
	if got := len(s.Drain(nil)); got != 6 {
		t.Fatalf("%d left, want 6", got)
	}
	if q := h.Stats().QueuedBytes; q != 0 {
		t.Fatalf("%d bytes still counted", q)
	}
}

// TestDrainDoesNotMoveALongBacklog: a writer taking a batch at a time from
// a long queue (an unpaced publisher to its own topic) must not pay for
// moving the rest of the queue on each batch, which made draining a
// backlog quadratic; the order stays the publishing order.
func TestDrainDoesNotMoveALongBacklog(t *testing.T) {
	t.Parallel()
	h, _ := newObservedHub(t, Defaults())
	s := h.NewSubscription("backlog", QueueLimits{Messages: 1 << 20, Bytes: 1 << 30})
	subscribeAll(t, s)
	const total, batch = 10000, 256
	for i := range total {
		publish(t, h, "t", fmt.Sprint(i), false)
	}
	var buf []Delivery
	for next := 0; next < total; {
		s.mu.Lock()
		rest := &s.queue[min(batch, len(s.queue)-1)]
		long := len(s.queue) > 2*batch
		s.mu.Unlock()
		buf = s.DrainBounded(buf, batch, 1<<30)
		s.mu.Lock()
		moved := long && &s.queue[0] != rest
		s.mu.Unlock()
		if moved {
			t.Fatalf("draining %d of a queue of %d moved the rest", batch, total-next)
		}
		for _, d := range buf {
			if got := string(d.Msg.Payload); got != fmt.Sprint(next) {
				t.Fatalf("delivery %d is %q", next, got)
			}
			next++
		}
	}
}
