//go:build unix

package kit_test

import (
	"bufio"
	"sync/atomic"
	"testing"
	"time"

	"streamhub/internal/testkit/loopback"
	"streamhub/internal/testkit/poll"
	"streamhub/internal/transport/kit"
)

// TestWriteNowPastTheWriteDeadline: a write deadline left behind by the
// last blocking write, and passed while the connection was idle, does
// not fail a non-blocking write; it leaves the bytes to the writer that
// may wait (an MQTT connection used to be closed by its first packet
// after its write timeout had passed idle).
func TestWriteNowPastTheWriteDeadline(t *testing.T) {
	_, server := loopback.Pair(t)
	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := kit.WriteNow(kit.RawSocket(server), []byte("ping"))
	if err != nil || n != 0 {
		t.Fatalf("WriteNow past the deadline: %d, %v; want nothing written and no error", n, err)
	}
}

// TestSpawnHeartbeatPastTheWriteDeadline: once the deadline of the last
// write that waited has passed, a heartbeat still goes out without
// waiting (TryWrite), not through a writer goroutine's blocking Write:
// otherwise every heartbeat of an idle connection that once waited to
// write started a goroutine, and a wave of them grew the heap.
func TestSpawnHeartbeatPastTheWriteDeadline(t *testing.T) {
	client, server := loopback.Pair(t)

	h := newHub(t)
	sub := subscribed(t, h, "t")
	publishAll(t, h, "t", "early") // written by a writer that may wait, which sets the deadline
	const every = 20 * time.Millisecond
	var waited, tried atomic.Int32
	w := kit.Writer{Encode: line, Meter: &countingMeter{}, WriteTimeout: time.Millisecond,
		Write: func(b []byte) error {
			waited.Add(1)
			_, err := server.Write(b)
			return err
		},
		TryWrite: func(b []byte) (int, error) {
			n, err := kit.WriteNow(kit.RawSocket(server), b)
			if n > 0 {
				tried.Add(1)
			}
			return n, err
		},
		SetWriteDeadline: server.SetWriteDeadline,
		HeartbeatEvery:   every, Heartbeats: kit.NewHeartbeats(every), Steady: true,
		Heartbeat: func() ([]byte, error) { return []byte("ping\n"), nil }}
	stop := w.Spawn(sub, func(error) {})
	defer stop()
	r := bufio.NewReader(client)
	for i, want := range []string{"early\n", "ping\n", "ping\n"} {
		got, err := r.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("line %d: %q, %v; want %q", i, got, err, want)
		}
	}
	// The count follows the write the client has read.
	poll.Eventually(t, 5*time.Second, "the heartbeats counted as written without waiting", func() bool { return tried.Load() >= 2 })
	if n := waited.Load(); n != 1 {
		t.Fatalf("%d writes waited; want 1, the first message's (the heartbeats must not)", n)
	}
}
