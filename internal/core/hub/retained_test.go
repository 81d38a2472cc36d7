package hub

import (
	"context"
	"errors"
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
