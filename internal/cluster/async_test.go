package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestPublishAsyncTellsInOrder: publishes made one after another without
// waiting, durable and non-durable mixed, are each told once, in the
// order they were made, durable ones with increasing positions; and every
// one is delivered.
func TestPublishAsyncTellsInOrder(t *testing.T) {
	t.Parallel()
	srv := testkit.StartNATS(t)
	h, _ := nodeWith(t, cluster.Config{URLs: []string{srv.ClientURL()}, Node: "a", Timeout: 5 * time.Second, Durable: []string{"d/#"}})
	sub := h.NewSubscription("test", hub.QueueLimits{Messages: 10_000})
	defer sub.Close()
	if _, err := sub.Subscribe([]string{"#"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	// Non-durable messages published before the node's own core NATS
	// subscription is up reach nobody (at most once): wait for it.
	testkit.Eventually(t, 10*time.Second, "the node receiving non-durable messages", func() bool {
		publish(t, h, "n/warm", "w", false)
		time.Sleep(20 * time.Millisecond)
		return len(sub.Drain(nil)) > 0
	})
	const n = 2000
	var mu sync.Mutex
	var told []int
	var last uint64
	all := make(chan struct{})
	for i := range n {
		topic := "d/x"
		if i%10 == 9 {
			topic = "n/x"
		}
		h.PublishAsync(context.Background(), &message.Message{Topic: topic, Payload: fmt.Appendf(nil, "%d", i)}, func(c message.Cursor, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
			if topic == "d/x" {
				if c.Seq <= last {
					t.Errorf("publish %d told position %d after %d", i, c.Seq, last)
				}
				last = c.Seq
			}
			told = append(told, i)
			if len(told) == n {
				close(all)
			}
		})
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d publishes told", len(told), n)
	}
	for i, v := range told {
		if v != i {
			t.Fatalf("publish %d told in place %d", v, i)
		}
	}
	seen := map[string]bool{}
	testkit.Eventually(t, 10*time.Second, "every publish delivered", func() bool {
		for _, d := range sub.Drain(nil) {
			seen[string(d.Msg.Payload)] = true
		}
		for i := range n {
			if !seen[fmt.Sprint(i)] {
				return false
			}
		}
		return true
	})
}

// BenchmarkPublishAsync: durable publishes with a window in flight, as an
// MQTT connection with QoS 1 publishes in flight makes them, against
// Publish's one acknowledgement at a time (BenchmarkPublish/durable).
func BenchmarkPublishAsync(b *testing.B) {
	srv := testkit.StartNATS(b)
	h, _ := nodeWith(b, cluster.Config{URLs: []string{srv.ClientURL()}, Node: "a", Timeout: 5 * time.Second, Durable: []string{"d/#"}})
	payload := make([]byte, 64)
	window := make(chan struct{}, 64)
	b.ReportAllocs()
	for b.Loop() {
		window <- struct{}{}
		h.PublishAsync(context.Background(), &message.Message{Topic: "d/x", Payload: payload}, func(_ message.Cursor, err error) {
			if err != nil {
				b.Error(err)
			}
			<-window
		})
	}
	for range cap(window) {
		window <- struct{}{}
	}
}
