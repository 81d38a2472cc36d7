package kit_test

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/testkit/poll"
	"streamhub/internal/transport/kit"
)

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
	poll.Eventually(t, 5*time.Second, "the early message", func() bool { return strings.Contains(strings.Join(rec.snapshot(), ""), "early\n") })
	publishAll(t, h, "t", "late")
	poll.Eventually(t, 5*time.Second, "the late message and a heartbeat", func() bool {
		all := strings.Join(rec.snapshot(), "")
		return strings.Contains(all, "late\n") && strings.Contains(all, "ping\n")
	})
	poll.Eventually(t, 5*time.Second, "the writer to go", func() bool { return runtime.NumGoroutine() <= before })
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

// TestSpawnHeartbeatsFromAWheel: writers sharing a Heartbeats wheel
// heartbeat while idle, each on its own stream, and leave the wheel when
// they end.
func TestSpawnHeartbeatsFromAWheel(t *testing.T) {
	h := newHub(t)
	const every = 20 * time.Millisecond
	w := kit.Writer{Encode: line, Meter: &countingMeter{}, HeartbeatEvery: every, Heartbeats: kit.NewHeartbeats(every),
		Heartbeat: func() ([]byte, error) { return []byte("ping\n"), nil }}
	recs := make([]*recorder, 3)
	stops := make([]func(), len(recs))
	for i := range recs {
		recs[i] = &recorder{}
		wi := w
		wi.Write = recs[i].write
		stops[i] = wi.Spawn(subscribed(t, h, "t"), func(error) {})
	}
	for i, rec := range recs {
		poll.Eventually(t, 5*time.Second, fmt.Sprintf("writer %d's heartbeats", i), func() bool {
			return strings.Count(strings.Join(rec.snapshot(), ""), "ping\n") >= 2
		})
	}
	for _, stop := range stops {
		stop()
	}
	poll.Eventually(t, 5*time.Second, "the wheel to empty", func() bool { return kit.HeartbeatsWaiting(w.Heartbeats) == 0 })
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

// goroutinesCreated is the runtime's count of goroutines started so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestSpawnWritesWithoutAGoroutinePerSubscriber: with TryWrite, messages
// to idle subscribers are written by the hub's few walkers, not by a
// goroutine started per subscriber and message (issue 20: a goroutine's
// start and end cost as much as the write), and never through the
// blocking Write while the socket takes them.
func TestSpawnWritesWithoutAGoroutinePerSubscriber(t *testing.T) {
	h := newHub(t)
	const subscribers, messages = 50, 40
	recs := make([]*recorder, subscribers)
	meter := &countingMeter{}
	idle := runtime.NumGoroutine()
	for i := range recs {
		rec := &recorder{}
		recs[i] = rec
		w := kit.Writer{Encode: line, Meter: meter,
			TryWrite: func(b []byte) (int, error) { return len(b), rec.write(b) },
			Write:    func([]byte) error { t.Error("the blocking write was used"); return nil }}
		stop := w.Spawn(subscribed(t, h, "t"), func(error) {})
		t.Cleanup(stop)
	}
	poll.Eventually(t, 5*time.Second, "the writers started by Spawn to go", func() bool { return runtime.NumGoroutine() <= idle })
	before := goroutinesCreated()
	for i := range messages {
		publishAll(t, h, "t", fmt.Sprint(i))
		poll.Eventually(t, 5*time.Second, "every subscriber to get it", func() bool {
			for _, rec := range recs {
				if got := rec.snapshot(); len(got) <= i || got[i] != fmt.Sprintf("%d\n", i) {
					return false
				}
			}
			return true
		})
	}
	if started := goroutinesCreated() - before; started > 2*messages {
		t.Errorf("%d goroutines started for %d messages to %d idle subscribers", started, messages, subscribers)
	}
	meter.mu.Lock()
	defer meter.mu.Unlock()
	if meter.sent != subscribers*messages {
		t.Errorf("metered %d sent, want %d", meter.sent, subscribers*messages)
	}
}

// TestSpawnShortTryWriteKeepsOrder: what a non-blocking write could not
// take goes out through Write before anything queued after it, so the
// stream stays whole and in order however little each try takes.
func TestSpawnShortTryWriteKeepsOrder(t *testing.T) {
	for _, room := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("room %d", room), func(t *testing.T) {
			h := newHub(t)
			sub := subscribed(t, h, "t")
			var rec recorder
			w := kit.Writer{Encode: line, Write: rec.write, Meter: &countingMeter{},
				TryWrite: func(b []byte) (int, error) {
					n := min(room, len(b))
					return n, rec.write(b[:n])
				}}
			stop := w.Spawn(sub, func(error) {})
			defer stop()
			var want strings.Builder
			for i := range 90 { // within the queue's 100: nothing dropped
				p := strings.Repeat(fmt.Sprint(i%10), 1+i%7)
				publishAll(t, h, "t", p)
				want.WriteString(p + "\n")
			}
			poll.Eventually(t, 5*time.Second, "every message", func() bool { return len(strings.Join(rec.snapshot(), "")) >= want.Len() })
			if got := strings.Join(rec.snapshot(), ""); got != want.String() {
				t.Fatalf("stream out of order or torn:\n got %q\nwant %q", got, want.String())
			}
		})
	}
}

// TestSpawnTryWriteErrorEnds: a failed non-blocking write hands the rest
// to Write, whose failure ends the writer as any failed write does.
func TestSpawnTryWriteErrorEnds(t *testing.T) {
	h := newHub(t)
	sub := subscribed(t, h, "t")
	broken := errors.New("connection reset")
	ended := make(chan error, 1)
	w := kit.Writer{Encode: line, Meter: &countingMeter{},
		TryWrite: func([]byte) (int, error) { return 0, broken },
		Write:    func([]byte) error { return broken }}
	stop := w.Spawn(sub, func(err error) { ended <- err })
	defer stop()
	publishAll(t, h, "t", "lost")
	select {
	case err := <-ended:
		if !errors.Is(err, broken) {
			t.Fatalf("ended with %v, want %v", err, broken)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not end")
	}
}

// TestEncoderPanicEndsOnlyItsSubscriber: an encoder that panics, on the
// hub's walker (TryWrite) or on a writer goroutine, ends its own writer
// with a *PanicError, so its transport cleans up; another subscriber of
// the same topic keeps receiving.
func TestEncoderPanicEndsOnlyItsSubscriber(t *testing.T) {
	for _, onWalker := range []bool{true, false} {
		t.Run(fmt.Sprintf("walker=%v", onWalker), func(t *testing.T) {
			h := newHub(t)
			spawn := func(encode func([]byte, hub.Delivery) []byte) (*recorder, chan error) {
				var rec recorder
				ended := make(chan error, 1)
				w := kit.Writer{Encode: encode, Write: rec.write, Meter: &countingMeter{}}
				if onWalker {
					w.TryWrite = func(b []byte) (int, error) { return len(b), rec.write(b) }
				}
				stop := w.Spawn(subscribed(t, h, "t"), func(err error) { ended <- err })
				t.Cleanup(stop)
				return &rec, ended
			}
			_, badEnded := spawn(func(buf []byte, d hub.Delivery) []byte {
				if string(d.Msg.Payload) == "boom" {
					panic("encoder bug")
				}
				return line(buf, d)
			})
			good, goodEnded := spawn(line)
			publishAll(t, h, "t", "boom")
			select {
			case err := <-badEnded:
				var perr *kit.PanicError
				if !errors.As(err, &perr) {
					t.Fatalf("the panicking writer ended with %v, want a *PanicError", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the panicking writer did not end")
			}
			publishAll(t, h, "t", "after")
			poll.Eventually(t, 5*time.Second, "the other subscriber's messages", func() bool {
				return strings.Join(good.snapshot(), "") == "boom\nafter\n"
			})
			select {
			case err := <-goodEnded:
				t.Fatalf("the other writer ended: %v", err)
			default:
			}
		})
	}
}
