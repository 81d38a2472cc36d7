package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit/natstest"
	"streamhub/internal/testkit/poll"
)

// TestRedialAfterFatalClose: a connection NATS closes for good (here
// "maximum control line exceeded", after which nats.go never reconnects)
// is replaced by a new one: the node is connected again, and the stream
// consumer, the handover and $share subscriptions and the session bucket
// work through it.
func TestRedialAfterFatalClose(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	b, err := Open(ctx, Config{URLs: []string{ns.ClientURL()}, Node: "a", Timeout: 2 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	h, err := hub.New(hub.Defaults(), log, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	m, err := b.MQTT(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var handovers, shared atomic.Int32
	stopHandovers, err := m.ServeHandovers(func(string) { handovers.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer stopHandovers()
	stopShare, err := m.Share("$share/g/r/#", "r/#", func(*message.Message) { shared.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer stopShare()
	sub := h.NewSubscription("test", hub.QueueLimits{})
	if _, err := sub.Subscribe([]string{"r/#"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}

	old := b.link()
	if err := old.nc.Publish(strings.Repeat("a", maxControlLine+1), nil); err != nil {
		t.Fatal(err)
	}
	_ = old.nc.Flush()
	poll.Eventually(t, 30*time.Second, "the connection closed for good and a new one made", func() bool {
		return old.nc.IsClosed() && b.link() != old && b.Connected()
	})

	if _, err := h.Publish(ctx, &message.Message{Topic: "r/1", Payload: []byte("after")}); err != nil {
		t.Fatalf("publish after the redial: %v", err)
	}
	got := false // kept across polls: the subscription may have it before the $share group
	poll.Eventually(t, 30*time.Second, "the subscription and the $share group given the message", func() bool {
		for _, d := range sub.Drain(nil) {
			got = got || string(d.Msg.Payload) == "after"
		}
		return got && shared.Load() == 1
	})
	if _, err := m.Save(ctx, "client", []byte("rec"), 0); err != nil {
		t.Fatalf("session saved after the redial: %v", err)
	}
	if rec, _, err := m.Load(ctx, "client"); err != nil || string(rec) != "rec" {
		t.Fatalf("session read after the redial: %q %v", rec, err)
	}
	if err := m.Handover(ctx, "a", "client"); err != nil || handovers.Load() != 1 {
		t.Fatalf("handover after the redial: %v (%d handled)", err, handovers.Load())
	}
}
