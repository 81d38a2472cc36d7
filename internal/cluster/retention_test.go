package cluster_test

import (
	"strconv"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestStrictestLimits: one JetStream stream holds every durable topic, so
// it takes the smallest bound of each kind that any durable stream sets.
func TestStrictestLimits(t *testing.T) {
	got := cluster.Strictest(
		cluster.Limits{Messages: 100, Bytes: 0, Age: time.Hour},
		cluster.Limits{Messages: 10, Bytes: 1 << 20, Age: 0},
		cluster.Limits{Messages: 0, Bytes: 1 << 30, Age: 2 * time.Hour},
	)
	want := cluster.Limits{Messages: 10, Bytes: 1 << 20, Age: time.Hour}
	if got != want {
		t.Fatalf("Strictest = %+v, want %+v", got, want)
	}
	if got := cluster.Strictest(); got != (cluster.Limits{}) {
		t.Fatalf("Strictest of none = %+v, want no bound", got)
	}
}

// retentionNodes runs two nodes whose message stream keeps what limits
// allow: a publishes, late joins afterwards (its memory windows hold
// nothing older, so every resume on it reads the stream).
func retentionNodes(t *testing.T, limits cluster.Limits) (a *hub.Hub, broker *cluster.JetStream, late func() *hub.Hub) {
	t.Helper()
	srv := testkit.StartNATS(t)
	cc := func(name string) cluster.Config {
		return cluster.Config{URLs: []string{srv.ClientURL()}, Node: name, Timeout: time.Second, Limits: limits}
	}
	a, broker = nodeWith(t, cc("a"))
	return a, broker, func() *hub.Hub { h, _ := nodeWith(t, cc("late")); return h }
}

func publishNumbered(t *testing.T, h *hub.Hub, name string, n int) []message.Cursor {
	t.Helper()
	cursors := make([]message.Cursor, n)
	for i := range n {
		cursors[i] = publish(t, h, name, strconv.Itoa(i+1), false)
	}
	return cursors
}

func resume(t *testing.T, h *hub.Hub, filter string, after message.Cursor) (*hub.Subscription, hub.Start) {
	t.Helper()
	s := h.NewSubscription("test", hub.QueueLimits{})
	start, err := s.Subscribe([]string{filter}, hub.StartFrom{After: &after})
	if err != nil {
		t.Fatal(err)
	}
	return s, start
}

// TestRetentionMessagesAnswersAGap: with a bound of 3 messages the stream
// keeps the last 3; a resume from before them answers a gap and replays
// those 3, a resume inside them none.
func TestRetentionMessagesAnswersAGap(t *testing.T) {
	t.Parallel()
	a, broker, late := retentionNodes(t, cluster.Limits{Messages: 3})
	cursors := publishNumbered(t, a, "t", 6)
	if got := broker.StoredMessages(t.Context()); got != 3 {
		t.Fatalf("stream holds %d messages, want 3", got)
	}
	b := late()
	old, start := resume(t, b, "t", cursors[0])
	if !start.Gap {
		t.Fatal("a resume from before what the stream holds: no gap")
	}
	equal(t, receive(t, old, 3), "4", "5", "6")
	held, start := resume(t, b, "t", cursors[3])
	if start.Gap {
		t.Fatal("a resume inside what the stream holds: gap")
	}
	equal(t, receive(t, held, 2), "5", "6")
}

// TestLastAndTimeStartsAnswerAGapPastRetention: with a bound of 3
// messages, `last=5` and a start at a time before every message, on a
// node that joined later, answer a gap and the 3 messages held; `last=2`
// and a start inside what is held, no gap.
func TestLastAndTimeStartsAnswerAGapPastRetention(t *testing.T) {
	t.Parallel()
	a, _, late := retentionNodes(t, cluster.Limits{Messages: 3})
	began := time.Now()
	publishNumbered(t, a, "t", 4)
	inside := time.Now()
	time.Sleep(time.Millisecond) // "4" is stamped before inside
	publish(t, a, "t", "5", false)
	publish(t, a, "t", "6", false)
	b := late()
	for _, c := range []struct {
		from hub.StartFrom
		gap  bool
		want []string
	}{
		{hub.StartFrom{Last: 5}, true, []string{"4", "5", "6"}},
		{hub.StartFrom{Since: began}, true, []string{"4", "5", "6"}},
		{hub.StartFrom{Last: 2}, false, []string{"5", "6"}},
		{hub.StartFrom{Since: inside}, false, []string{"5", "6"}},
	} {
		s := b.NewSubscription("test", hub.QueueLimits{})
		start, err := s.Subscribe([]string{"t"}, c.from)
		if err != nil || start.Gap != c.gap {
			t.Fatalf("%+v: %v, gap %v, want %v", c.from, err, start.Gap, c.gap)
		}
		equal(t, receive(t, s, len(c.want)), c.want...)
	}
}

// TestRetentionBytes: a bound in bytes keeps the stream under it.
func TestRetentionBytes(t *testing.T) {
	t.Parallel()
	const bound = 2048
	a, broker, late := retentionNodes(t, cluster.Limits{Bytes: bound})
	cursors := publishNumbered(t, a, "t", 100)
	if got := broker.StoredMessages(t.Context()); got == 0 || got >= 100 {
		t.Fatalf("stream holds %d of 100 messages under a %d-byte bound", got, bound)
	}
	if _, start := resume(t, late(), "t", cursors[0]); !start.Gap {
		t.Fatal("a resume from before what the stream holds: no gap")
	}
}

// TestRetentionAgeEmptiesTheStreamAndAResumeGoesOn: once every message is
// older than the bound the stream is empty; a resume from before answers a
// gap, ends its catch-up at once and stays subscribed: the next message
// arrives.
func TestRetentionAgeEmptiesTheStreamAndAResumeGoesOn(t *testing.T) {
	t.Parallel()
	a, broker, late := retentionNodes(t, cluster.Limits{Age: 200 * time.Millisecond})
	cursors := publishNumbered(t, a, "t", 3)
	testkit.Eventually(t, 10*time.Second, "the stream emptied by age", func() bool {
		return broker.StoredMessages(t.Context()) == 0
	})
	b := late()
	s, start := resume(t, b, "t", cursors[0])
	if !start.Gap {
		t.Fatal("a resume from before what the stream holds: no gap")
	}
	// The catch-up ends at once with nothing to read: not after empty
	// fetches that time out (3 of a second each) and an error.
	began := time.Now()
	testkit.Eventually(t, 10*time.Second, "the catch-up over an emptied stream done", func() bool {
		if got := s.Drain(nil); len(got) > 0 {
			t.Fatalf("replayed %d messages from an empty stream", len(got))
		}
		return !s.Pending()
	})
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the catch-up over an emptied stream took %v", took)
	}
	publish(t, a, "t", "after", false)
	equal(t, receive(t, s, 1), "after")
	if err := s.Err(); err != nil {
		t.Fatalf("subscription ended: %v", err)
	}
}

// TestCatchUpDoesNotWaitForAFullPage: a resume on a node that joined
// later reads the few messages held after the cursor at once, not after
// a fetch waited its whole timeout for a page that will never fill.
func TestCatchUpDoesNotWaitForAFullPage(t *testing.T) {
	t.Parallel()
	srv := testkit.StartNATS(t)
	cc := func(name string) cluster.Config {
		return cluster.Config{URLs: []string{srv.ClientURL()}, Node: name, Timeout: 5 * time.Second}
	}
	a, _ := nodeWith(t, cc("a"))
	cursors := publishNumbered(t, a, "t", 3)
	late, _ := nodeWith(t, cc("late"))
	began := time.Now()
	s, _ := resume(t, late, "t", cursors[0])
	equal(t, receive(t, s, 2), "2", "3")
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("a catch-up of 2 messages took %v", took)
	}
}
