package kit_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"streamhub/internal/transport/kit"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSpawnWritesOnDemandAndEndsOnce: a spawned writer sends what was
// queued before and after it started, heartbeats while idle, holds no
// goroutine between, and reports the subscription's end once.
func TestSpawnWritesOnDemandAndEndsOnce(t *testing.T) {
	h := newHub(t)
	sub := subscribed(t, h, "t")
	publishAll(t, h, "t", "early")
	var rec recorder
	ended := make(chan error, 2)
	w := kit.Writer{Encode: line, Write: rec.write, Meter: &countingMeter{}, HeartbeatEvery: 20 * time.Millisecond,
		Heartbeat: func() ([]byte, error) { return []byte("ping\n"), nil }}
	before := runtime.NumGoroutine()
	stop := w.Spawn(sub, func(err error) { ended <- err })
	waitFor(t, "the early message", func() bool { return strings.Contains(strings.Join(rec.snapshot(), ""), "early\n") })
	publishAll(t, h, "t", "late")
	waitFor(t, "the late message and a heartbeat", func() bool {
		all := strings.Join(rec.snapshot(), "")
		return strings.Contains(all, "late\n") && strings.Contains(all, "ping\n")
	})
	waitFor(t, "the writer to go", func() bool { return runtime.NumGoroutine() <= before })
	h.Close()
	if err := <-ended; kit.EndOf(err) != kit.EndShutdown {
		t.Fatalf("ended with %v, want the shutdown", err)
	}
	stop()
	select {
	case err := <-ended:
		t.Fatalf("ended twice, again with %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestSpawnStop: stop ends it with ErrStopped; nothing is written after.
func TestSpawnStop(t *testing.T) {
	h := newHub(t)
	sub := subscribed(t, h, "t")
	var rec recorder
	ended := make(chan error, 1)
	w := kit.Writer{Encode: line, Write: rec.write, Meter: &countingMeter{}}
	stop := w.Spawn(sub, func(err error) { ended <- err })
	stop()
	if err := <-ended; !errors.Is(err, kit.ErrStopped) {
		t.Fatalf("ended with %v, want ErrStopped", err)
	}
	publishAll(t, h, "t", "after")
	time.Sleep(20 * time.Millisecond)
	if got := rec.snapshot(); len(got) != 0 {
		t.Fatalf("wrote %q after stop", got)
	}
}
