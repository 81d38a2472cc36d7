package cluster_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
	"streamhub/internal/testkit/poll"
)

// node is one streamhub node's core: a hub on its own JetStream broker.
func node(t *testing.T, url, name string, configure ...func(*hub.Config)) (*hub.Hub, *cluster.JetStream) {
	t.Helper()
	return nodeWith(t, cluster.Config{URLs: []string{url}, Node: name, Timeout: time.Second}, configure...)
}

func nodeWith(t testing.TB, cc cluster.Config, configure ...func(*hub.Config)) (*hub.Hub, *cluster.JetStream) {
	t.Helper()
	cfg := hub.Defaults()
	for _, f := range configure {
		f(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	b, err := cluster.Open(context.Background(), cc, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	h, err := hub.New(cfg, log, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, b
}

func publish(t *testing.T, h *hub.Hub, name, payload string, retain bool) message.Cursor {
	t.Helper()
	c, err := h.Publish(context.Background(), &message.Message{Topic: name, Payload: []byte(payload), Retain: retain})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// receive drains s until it holds n deliveries.
func receive(t *testing.T, s *hub.Subscription, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case <-s.Ready():
			for _, d := range s.Drain(nil) {
				p := string(d.Msg.Payload)
				if d.Retained {
					p = "R:" + p
				}
				got = append(got, p)
			}
		case <-deadline:
			t.Fatalf("got %q, want %d messages", got, n)
		}
	}
	return got
}

func equal(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestTwoNodesThroughJetStream: a message published on node A reaches a
// subscriber on node B, in order; a cursor A returned resumes on B; a node
// that joins later has the retained messages; topics differing only in a
// character NATS cannot hold stay apart.
func TestTwoNodesThroughJetStream(t *testing.T) {
	t.Parallel()
	srv := testkit.StartNATS(t)
	a, _ := node(t, srv.ClientURL(), "a")
	b, _ := node(t, srv.ClientURL(), "b")
	onB := b.NewSubscription("test", hub.QueueLimits{})
	if _, err := onB.Subscribe([]string{"room/#"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	first := publish(t, a, "room/1", "one", true)
	publish(t, a, "room/a.b", "dot", false)
	publish(t, a, "room/a b", "space", false)
	equal(t, receive(t, onB, 3), "one", "dot", "space")

	resumed := b.NewSubscription("test", hub.QueueLimits{})
	if start, err := resumed.Subscribe([]string{"room/a.b"}, hub.StartFrom{After: &first}); err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, receive(t, resumed, 1), "dot")

	c, _ := node(t, srv.ClientURL(), "c")
	fresh := c.NewSubscription("test", hub.QueueLimits{})
	if _, err := fresh.Subscribe([]string{"room/+"}, hub.StartFrom{Retained: true}); err != nil {
		t.Fatal(err)
	}
	equal(t, receive(t, fresh, 1), "R:one")
}

// TestPublishUnavailableWithoutNATS: with NATS gone, a publish is refused
// with hub.ErrUnavailable instead of being lost.
func TestPublishUnavailableWithoutNATS(t *testing.T) {
	t.Parallel()
	srv := testkit.StartNATS(t)
	a, broker := node(t, srv.ClientURL(), "a")
	srv.Shutdown()
	poll.Eventually(t, 10*time.Second, "the broker to see NATS gone", func() bool { return !broker.Connected() })
	_, err := a.Publish(context.Background(), &message.Message{Topic: "t", Payload: []byte("x")})
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("publish without NATS: %v, want ErrUnavailable", err)
	}
}

// TestResumeOlderThanTheWindowReplaysFromJetStream: a node whose memory
// window is too short for a cursor reads the rest from the stream.
func TestResumeOlderThanTheWindowReplaysFromJetStream(t *testing.T) {
	t.Parallel()
	srv := testkit.StartNATS(t)
	a, _ := node(t, srv.ClientURL(), "a")
	b, _ := node(t, srv.ClientURL(), "b", func(c *hub.Config) { c.HistoryMessages = 2 })
	live := b.NewSubscription("test", hub.QueueLimits{})
	if _, err := live.Subscribe([]string{"#"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	first := publish(t, a, "t/x", "1", false)
	for _, p := range []string{"2", "3", "4", "5"} {
		publish(t, a, "t/x", p, false)
	}
	publish(t, a, "u", "other", false)
	receive(t, live, 6) // B has seen them all, and kept the last two of t
	resumed := b.NewSubscription("test", hub.QueueLimits{})
	if start, err := resumed.Subscribe([]string{"t/#"}, hub.StartFrom{After: &first}); err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, receive(t, resumed, 4), "2", "3", "4", "5")
}

// TestResumeOnANodeThatJoinedLater: a node started after the messages
// were published resumes an old cursor from the stream, without a gap.
func TestResumeOnANodeThatJoinedLater(t *testing.T) {
	t.Parallel()
	srv := testkit.StartNATS(t)
	a, _ := node(t, srv.ClientURL(), "a")
	first := publish(t, a, "t", "1", false)
	publish(t, a, "t", "2", false)
	publish(t, a, "t", "3", false)
	late, _ := node(t, srv.ClientURL(), "late")
	s := late.NewSubscription("test", hub.QueueLimits{})
	if start, err := s.Subscribe([]string{"t"}, hub.StartFrom{After: &first}); err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, receive(t, s, 2), "2", "3")
}

// TestNonDurableTopicsRideCoreNATS: with durable filters, a message of
// another topic reaches the other node without a JetStream write, between
// durable ones in order; a durable cursor still resumes on another node,
// and a resume does not replay non-durable messages (at most once).
func TestNonDurableTopicsRideCoreNATS(t *testing.T) {
	t.Parallel()
	srv := testkit.StartNATS(t)
	cc := func(name string) cluster.Config {
		return cluster.Config{URLs: []string{srv.ClientURL()}, Node: name, Timeout: time.Second, Durable: []string{"d/#"}}
	}
	a, broker := nodeWith(t, cc("a"))
	b, _ := nodeWith(t, cc("b"))
	onB := b.NewSubscription("test", hub.QueueLimits{})
	if _, err := onB.Subscribe([]string{"#"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	first := publish(t, a, "d/1", "one", false)
	equal(t, receive(t, onB, 1), "one") // core NATS does not wait for the stream: order only per kind
	publish(t, a, "n/1", "fast", false)
	equal(t, receive(t, onB, 1), "fast")
	publish(t, a, "d/1", "two", false)
	equal(t, receive(t, onB, 1), "two")
	if got := broker.StoredMessages(t.Context()); got != 2 {
		t.Fatalf("stream holds %d messages, want the 2 durable ones", got)
	}
	c, _ := nodeWith(t, cc("c"))
	resumed := c.NewSubscription("test", hub.QueueLimits{})
	if start, err := resumed.Subscribe([]string{"d/#"}, hub.StartFrom{After: &first}); err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, receive(t, resumed, 1), "two")
	// A filter reaching non-durable topics: what node c never held of
	// them ("fast") is lost to the resume, which says so.
	wide := c.NewSubscription("test", hub.QueueLimits{})
	if start, err := wide.Subscribe([]string{"#"}, hub.StartFrom{After: &first}); err != nil || !start.Gap {
		t.Fatal(err, start)
	}
	equal(t, receive(t, wide, 1), "two")
}
