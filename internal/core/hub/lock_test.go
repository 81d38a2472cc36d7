package hub

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/core/engine/local"
	"streamhub/internal/core/message"
)

// slowStore is a store whose replay blocks until released: a page read
// from a slow disk (or, on a cluster, from the network).
type slowStore struct {
	reserved uint64
	replay   chan struct{} // a value lets one Replay through
	entered  chan struct{} // closed once a Replay is waiting
	// committing, when set, is told of each Commit, which then waits for
	// committed to be closed.
	committing chan struct{}
	committed  chan struct{}
}

func (s *slowStore) Epoch() string             { return "slow" }
func (s *slowStore) Reserved() uint64          { return s.reserved }
func (s *slowStore) Reserve(uint64) error      { return nil }
func (s *slowStore) Durable(string) bool       { return false }
func (s *slowStore) Covered(string) bool       { return true }
func (s *slowStore) Reaches(string) bool       { return true }
func (s *slowStore) Stage(*message.Message)    {}
func (s *slowStore) Gap([]string, uint64) bool { return false }
func (s *slowStore) Retained() ([]*message.Message, error) {
	return nil, nil
}
func (s *slowStore) SeqAtTime(time.Time, uint64) (uint64, error) { return 0, nil }
func (s *slowStore) LastN(_ []string, _ int, upTo uint64) (uint64, int, error) {
	close(s.entered)
	<-s.replay
	return upTo - 1, 1, nil
}

func (s *slowStore) Commit() error {
	if s.committing != nil {
		select {
		case s.committing <- struct{}{}:
		default:
		}
		<-s.committed
	}
	return nil
}

func (s *slowStore) Replay(_ []string, after, upTo uint64, _ int) ([]*message.Message, uint64, bool, error) {
	close(s.entered)
	<-s.replay
	return []*message.Message{{Topic: "t", Payload: []byte("stored"), Epoch: "slow", Seq: after + 1}}, upTo, true, nil
}

// TestResumePageDoesNotStallPublishes: while a resuming subscriber loads a
// page from the store, publishes (which fan out to that very subscriber)
// go on; the page still comes before the live messages.
func TestResumePageDoesNotStallPublishes(t *testing.T) {
	t.Parallel()
	h, st := newSlowStoreHub(t)
	s := h.NewSubscription("test", QueueLimits{})
	if _, err := s.Subscribe([]string{"t"}, StartFrom{After: &message.Cursor{Epoch: "slow", Seq: 5}}); err != nil {
		t.Fatal(err)
	}
	drained := make(chan []Delivery)
	go func() { drained <- s.Drain(nil) }()
	<-st.entered
	publishWhileStoreReads(t, h, st)
	st.replay <- struct{}{}
	got := []string{}
	for _, d := range <-drained {
		got = append(got, string(d.Msg.Payload))
	}
	got = append(got, payloads(s)...)
	equal(t, got, "stored", "live")
}

// TestStartingPointFromStoreDoesNotStallPublishes: a subscriber asking for
// the last messages, which the store must find, does not stall publishes
// while it reads; it then gets the stored message and the live one.
func TestStartingPointFromStoreDoesNotStallPublishes(t *testing.T) {
	t.Parallel()
	h, st := newSlowStoreHub(t)
	s := h.NewSubscription("test", QueueLimits{})
	subscribed := make(chan error)
	go func() {
		_, err := s.Subscribe([]string{"t"}, StartFrom{Last: 1})
		subscribed <- err
	}()
	<-st.entered
	publishWhileStoreReads(t, h, st)
	st.entered = make(chan struct{})
	st.replay <- struct{}{}
	if err := <-subscribed; err != nil {
		t.Fatal(err)
	}
	go func() { st.replay <- struct{}{} }() // the catch-up page
	equal(t, payloads(s), "stored", "live")
}

func newSlowStoreHub(t *testing.T) (*Hub, *slowStore) {
	st := &slowStore{reserved: 100, replay: make(chan struct{}), entered: make(chan struct{})}
	h, err := New(Defaults(), slog.New(slog.DiscardHandler), nil, local.New(st, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, st
}

// publishWhileStoreReads publishes "live" on t while st holds a read, and
// fails if the publish waits for that read.
func publishWhileStoreReads(t *testing.T, h *Hub, st *slowStore) {
	t.Helper()
	published := make(chan error)
	go func() {
		_, err := h.Publish(context.Background(), &message.Message{Topic: "t", Payload: []byte("live")})
		published <- err
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		st.replay <- struct{}{}
		t.Fatal("a publish waited for a subscriber's store read")
	}
}

// TestOrderWhileCommitting: a message that needs no storing, published
// while an earlier one is being committed, is fanned out after it, so
// subscribers (and the history window) see cursors in order.
func TestOrderWhileCommitting(t *testing.T) {
	t.Parallel()
	st := &slowStore{committing: make(chan struct{}, 1), committed: make(chan struct{})}
	h, err := New(Defaults(), slog.New(slog.DiscardHandler), nil, local.New(st, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	s := h.NewSubscription("test", QueueLimits{})
	if _, err := s.Subscribe([]string{"#"}, StartFrom{}); err != nil {
		t.Fatal(err)
	}
	published := make(chan error, 2)
	publish := func(m *message.Message) {
		_, err := h.Publish(context.Background(), m)
		published <- err
	}
	go publish(&message.Message{Topic: "r", Payload: []byte("stored"), Retain: true})
	<-st.committing
	go publish(&message.Message{Topic: "t", Payload: []byte("live")})
	for h.Stats().Engine.Position != 2 { // the second publish is numbered
		time.Sleep(time.Millisecond)
	}
	close(st.committed)
	for range 2 {
		if err := <-published; err != nil {
			t.Fatal(err)
		}
	}
	equal(t, payloads(s), "stored", "live")
}
