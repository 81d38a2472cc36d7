package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"streamhub/internal/core/message"
)

// TestRetainedPerUserBound: a user's retained messages on new topics are
// refused past RetainedUserMessages, while another user, replacing and
// clearing still work, and a cleared topic gives its owner room back.
func TestRetainedPerUserBound(t *testing.T) {
	cfg := Defaults()
	cfg.RetainedUserMessages = 2
	h := newTestHub(t, cfg)
	publish := func(user, name, payload string) error {
		m := &message.Message{Topic: name, Payload: []byte(payload), Retain: true}
		_, err := h.Publish(PublishedBy(context.Background(), m, user), m)
		return err
	}
	for _, step := range []struct {
		user, topic, payload string
		refused              bool
	}{
		{"alice", "a/1", "x", false},
		{"alice", "a/2", "x", false},
		{"alice", "a/3", "x", true},
		{"bob", "b/1", "x", false},
		{"alice", "a/1", "replaced", false},
		{"", "a/2", "", false}, // cleared by someone else
		{"alice", "a/3", "x", false},
		{"alice", "a/4", "x", true},
		{"", "a/5", "x", false}, // no user: only the bounds of all
	} {
		err := publish(step.user, step.topic, step.payload)
		if refused := errors.Is(err, ErrRetainedQuota); refused != step.refused || err != nil && !refused {
			t.Errorf("%s publishes %s: %v, want refused %v", step.user, step.topic, err, step.refused)
		}
	}
	if n := h.Stats().Retained; n != 4 {
		t.Errorf("%d retained messages, want 4 (a/1, a/3, a/5, b/1)", n)
	}
}

// TestTopicStatsBoundByNameBytes: the per-topic statistics stop taking
// new topics once their names hold maxTrackedNameBytes, however long the
// names (a topic may be 64 KiB long).
func TestTopicStatsBoundByNameBytes(t *testing.T) {
	h := newTestHub(t, Defaults())
	const long = 64 << 10
	for i := range maxTrackedNameBytes/long + 10 {
		name := fmt.Sprintf("%d/%s", i, strings.Repeat("x", long-10))
		m := &message.Message{Topic: name, Payload: []byte("x")}
		if _, err := h.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.Topics()); n > maxTrackedNameBytes/(long-10) {
		t.Errorf("%d topics of 64 KiB tracked, want at most %d", n, maxTrackedNameBytes/(long-10))
	}
}
