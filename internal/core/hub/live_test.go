package hub

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"streamhub/internal/core/message"
)

// TestLiveListCountsAndEnds: the hub's live subscriptions (a list through
// them) count every subscription made and not closed, whatever the order
// of closing (head, middle, last, twice), and the hub's Close ends every
// one still live, hooked or not.
func TestLiveListCountsAndEnds(t *testing.T) {
	t.Parallel()
	h, err := New(Defaults(), slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var subs []*Subscription
	for range 5 {
		subs = append(subs, h.NewSubscription("a", QueueLimits{}))
	}
	hooks := &countingHooks{}
	hooked := h.NewSubscriptionWith("b", QueueLimits{Messages: 7}, hooks)
	if n := h.Stats().Subscriptions; n != 6 {
		t.Fatalf("%d live, want 6", n)
	}
	subs[4].Close() // the first made: the list's last
	subs[0].Close() // the last linked before the hooked one
	subs[2].Close()
	subs[2].Close() // twice: unlinked once
	if n := h.Stats().Subscriptions; n != 3 {
		t.Fatalf("%d live after three closes, want 3", n)
	}
	if hooked.kind == subs[1].kind || subs[1].kind != subs[3].kind {
		t.Error("subscriptions of one transport and limits do not share their kind, or others do")
	}
	h.Close()
	for _, s := range []*Subscription{subs[1], subs[3], hooked} {
		<-s.Done()
		if !errors.Is(s.Err(), ErrShutdown) {
			t.Fatalf("ended with %v, want shutdown", s.Err())
		}
	}
	if n := h.Stats().Subscriptions; n != 0 {
		t.Fatalf("%d live after Close", n)
	}
	if hooks.notified.Load() == 0 {
		t.Error("the hooks were not told of the end")
	}
	subs[1].Close() // after the hub's Close: nothing linked, nothing breaks
}

// TestHooksReplaceNotifyAndOverflow: a subscription made with hooks is
// told of queued messages and of its DropOldest drops through them.
func TestHooksReplaceNotifyAndOverflow(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Defaults())
	hooks := &countingHooks{}
	s := h.NewSubscriptionWith("t", QueueLimits{Messages: 1, Overflow: DropOldest}, hooks)
	if _, err := s.Subscribe([]string{"a"}, StartFrom{Owned: true}); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "a", "1", false)
	if hooks.notified.Load() == 0 {
		t.Fatal("not notified of a queued message")
	}
	publish(t, h, "a", "2", false)
	if got := hooks.dropped.Load(); got == nil || string(got.Payload) != "1" {
		t.Fatalf("overflow hook got %v, want the dropped message 1", got)
	}
	equal(t, payloads(s), "2")
	if s.sig.Load() != nil {
		t.Error("a hooked subscription made the signals it never uses")
	}
}

type countingHooks struct {
	notified atomic.Int32
	dropped  atomic.Pointer[message.Message]
}

func (c *countingHooks) Notify() { c.notified.Add(1) }

func (c *countingHooks) Overflowed(m *message.Message) bool {
	c.dropped.Store(m)
	return false
}
