package hub

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestNotifyAfterPublishRunsUnlocked: a subscription's NotifyAfterPublish
// hook is called for the live messages of a publish with no hub lock held
// (it may take Hub.mu, as this one does through Filters), spread over
// walkers for a fan-out of many chunks, while the backlog of a subscribe
// and the end still go to Notify.
func TestNotifyAfterPublishRunsUnlocked(t *testing.T) {
	h := newTestHub(t, Config{HistoryMessages: 10})
	publish(t, h, "a/retained", "r", true)
	const n = 3*wakeChunk + 1
	var after, notified atomic.Int64
	subs := make([]*Subscription, n)
	for i := range subs {
		s := h.NewSubscription("test", QueueLimits{})
		s.Notify(func() { notified.Add(1) })
		s.NotifyAfterPublish(func() {
			_ = s.Filters() // takes Hub.mu: would deadlock under the fan-out
			after.Add(1)
		})
		if _, err := s.Subscribe([]string{"a/#"}, StartFrom{Retained: true}); err != nil {
			t.Fatal(err)
		}
		subs[i] = s
	}
	if got := notified.Load(); got != n {
		t.Fatalf("Notify called %d times for the retained backlog, want %d", got, n)
	}
	publish(t, h, "a/live", "x", false)
	publish(t, h, "a/live", "y", false)
	deadline := time.Now().Add(5 * time.Second)
	for after.Load() < 2*n {
		if time.Now().After(deadline) {
			t.Fatalf("NotifyAfterPublish called %d times, want %d", after.Load(), 2*n)
		}
		time.Sleep(time.Millisecond)
	}
	if got := len(payloads(subs[n-1])); got != 3 {
		t.Fatalf("last subscriber holds %d messages, want the retained one and two live", got)
	}
	h.Close()
	if got := notified.Load(); got != 2*n {
		t.Fatalf("Notify called %d times after the end, want %d", got, 2*n)
	}
}

// TestPanickingHookEndsOnlyItsSubscription: a NotifyAfterPublish hook that
// panics on a walker ends its own subscription (ErrPanicked) and nothing
// else: the process lives on and the other subscribers keep being called.
func TestPanickingHookEndsOnlyItsSubscription(t *testing.T) {
	h := newTestHub(t, Config{HistoryMessages: 10})
	bad := h.NewSubscription("test", QueueLimits{})
	bad.NotifyAfterPublish(func() { panic("encoder bug") })
	good := h.NewSubscription("test", QueueLimits{})
	var calls atomic.Int64
	good.NotifyAfterPublish(func() { calls.Add(1) })
	for _, s := range []*Subscription{bad, good} {
		if _, err := s.Subscribe([]string{"a"}, StartFrom{}); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, h, "a", "1", false)
	select {
	case <-bad.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the panicking subscription did not end")
	}
	if !errors.Is(bad.Err(), ErrPanicked) {
		t.Fatalf("ended with %v, want ErrPanicked", bad.Err())
	}
	publish(t, h, "a", "2", false)
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the other subscriber's hook was called %d times, want 2", calls.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if good.Err() != nil {
		t.Fatalf("the other subscription ended: %v", good.Err())
	}
}
