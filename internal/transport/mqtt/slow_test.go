package mqtt

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

// TestOverflowCutsOffOnlyForMessagesQueuedWhileConnected: a session whose
// queue overflows cuts its client off (once) only when the dropped message
// was queued while that client was connected; a backlog gathered while the
// session was detached drains without cutting off the client that came
// back for it.
func TestOverflowCutsOffOnlyForMessagesQueuedWhileConnected(t *testing.T) {
	t.Parallel()
	srv := New(nil, Config{}, slog.New(slog.DiscardHandler), nil)
	ss := &session{srv: srv, id: "slow"}
	if ss.overflowed(&message.Message{Time: time.Now()}) {
		t.Fatal("a detached session cut a client off")
	}
	nc, peer := net.Pipe()
	defer peer.Close()
	c := &conn{srv: srv, nc: nc, sess: ss, version: 4, since: time.Now().UnixNano()}
	ss.active.Store(c)
	if ss.overflowed(&message.Message{Time: time.Unix(0, c.since).Add(-time.Second)}) {
		t.Fatal("cut off for a message queued before the client connected")
	}
	if !ss.overflowed(&message.Message{Time: time.Unix(0, c.since).Add(time.Millisecond)}) {
		t.Fatal("not cut off for a message queued while connected")
	}
	if ss.overflowed(&message.Message{Time: time.Unix(0, c.since).Add(time.Second)}) {
		t.Fatal("cut off twice")
	}
	select {
	case <-c.done.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
	if c.reason == nil || c.reason.Code != 0x97 {
		t.Fatalf("reason %+v, want 0x97", c.reason)
	}
}
