package kit_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/transport/kit"
)

func newHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, err := hub.New(hub.Config{}, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func newPolicy(t *testing.T) (*auth.Policy, *auth.Identity) {
	t.Helper()
	p, err := auth.New(auth.Config{Rules: []auth.Rule{{Who: "anonymous", Subscribe: []string{"public/#"}}}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Anonymous("")
	if err != nil {
		t.Fatal(err)
	}
	return p, id
}

// TestSubscribeNeedsNoRequest: any transport subscribes with filters, a
// start point and an identity; the retained message comes first.
func TestSubscribeNeedsNoRequest(t *testing.T) {
	h := newHub(t)
	p, id := newPolicy(t)
	if _, err := h.Publish(context.Background(), &message.Message{Topic: "public/a", Payload: []byte("r"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	sub := h.NewSubscription("test", hub.QueueLimits{Messages: 10})
	defer sub.Close()
	if _, err := kit.Subscribe(p, sub, kit.SubscribeRequest{Identity: id, Filters: []string{"public/#"},
		From: hub.StartFrom{Retained: true}}); err != nil {
		t.Fatal(err)
	}
	if got := sub.Drain(nil); len(got) != 1 || string(got[0].Msg.Payload) != "r" {
		t.Fatalf("backlog %v, want the retained message", got)
	}
}

// TestSubscribeRefusal: a refused filter is a ForbiddenError whose message
// quotes a bounded part of the filter, so a huge one does not come back
// whole in the transports' error replies.
func TestSubscribeRefusal(t *testing.T) {
	h := newHub(t)
	p, id := newPolicy(t)
	sub := h.NewSubscription("test", hub.QueueLimits{Messages: 10})
	defer sub.Close()
	long := "private/" + strings.Repeat("x", 10000)
	_, err := kit.Subscribe(p, sub, kit.SubscribeRequest{Identity: id, Filters: []string{"public/#", long}})
	if !kit.IsForbidden(err) {
		t.Fatalf("err %v, want a ForbiddenError", err)
	}
	if len(err.Error()) > 300 {
		t.Fatalf("refusal message of %d bytes", len(err.Error()))
	}
}

func TestEndOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want kit.EndReason
		name string
	}{
		{nil, kit.EndClosed, "closed"},
		{context.Canceled, kit.EndClosed, "closed"},
		{fmt.Errorf("pump: %w", hub.ErrShutdown), kit.EndShutdown, "shutdown"},
		{hub.ErrSlowConsumer, kit.EndSlowConsumer, "slow_consumer"},
	} {
		if got := kit.EndOf(tc.err); got != tc.want || got.String() != tc.name {
			t.Errorf("EndOf(%v) = %v (%s), want %v (%s)", tc.err, got, got, tc.want, tc.name)
		}
	}
}
