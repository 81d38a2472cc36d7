package kit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit/poll"
	"streamhub/internal/transport/kit"
)

type countingMeter struct {
	mu   sync.Mutex
	sent int
}

func (m *countingMeter) Connected() func() { return func() {} }
func (m *countingMeter) Received(int)      {}
func (m *countingMeter) Sent(n int)        { m.mu.Lock(); m.sent += n; m.mu.Unlock() }

// recorder is a connection that records its writes and can be made to fail.
type recorder struct {
	mu     sync.Mutex
	writes []string
	fail   error
}

func (r *recorder) write(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.writes = append(r.writes, string(b))
	return nil
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func line(buf []byte, d hub.Delivery) []byte { return append(append(buf, d.Msg.Payload...), '\n') }

func publishAll(t *testing.T, h *hub.Hub, topic string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if _, err := h.Publish(context.Background(), &message.Message{Topic: topic, Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
}

func subscribed(t *testing.T, h *hub.Hub, filter string) *hub.Subscription {
	t.Helper()
	sub := h.NewSubscription("test", hub.QueueLimits{Messages: 100})
	t.Cleanup(sub.Close)
	if _, err := sub.Subscribe([]string{filter}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestWriterBatchesQueueIntoOneWrite: what was queued goes out in one
// write, counted; the subscription's end returns its reason.
func TestWriterBatchesQueueIntoOneWrite(t *testing.T) {
	h := newHub(t)
	sub := subscribed(t, h, "t")
	publishAll(t, h, "t", "a", "b", "c")
	var rec recorder
	meter := &countingMeter{}
	w := kit.Writer{Encode: line, Write: rec.write, Meter: meter}
	done := make(chan error, 1)
	go func() { _, err := w.Run(context.Background(), sub, nil); done <- err }()
	poll.Eventually(t, 5*time.Second, "the first write", func() bool { return len(rec.snapshot()) > 0 })
	h.Close()
	if err := <-done; kit.EndOf(err) != kit.EndShutdown {
		t.Fatalf("Run returned %v, want the shutdown", err)
	}
	if got := rec.snapshot(); len(got) != 1 || got[0] != "a\nb\nc\n" {
		t.Fatalf("writes %q, want one of three lines", got)
	}
	if meter.sent != 3 {
		t.Fatalf("meter counted %d sent", meter.sent)
	}
}

// TestWriterReturnsWhatItCouldNotWrite: with MaxWrite a batch goes out in
// slices, and a failed write hands back the deliveries not written.
func TestWriterReturnsWhatItCouldNotWrite(t *testing.T) {
	h := newHub(t)
	sub := subscribed(t, h, "t")
	broken := errors.New("broken pipe")
	rec := recorder{fail: broken}
	w := kit.Writer{Encode: line, Write: rec.write, MaxWrite: 1, Meter: &countingMeter{}}
	pending := []hub.Delivery{{Msg: &message.Message{Payload: []byte("x")}}, {Msg: &message.Message{Payload: []byte("y")}}}
	rest, err := w.Run(context.Background(), sub, pending)
	if !errors.Is(err, broken) || len(rest) != 2 {
		t.Fatalf("Run = %d left, %v; want both left and the write error", len(rest), err)
	}
}

// TestWriterHeartbeatWhenIdle: an idle writer sends its heartbeat; a
// heartbeat error ends the loop.
func TestWriterHeartbeatWhenIdle(t *testing.T) {
	h := newHub(t)
	sub := subscribed(t, h, "t")
	var rec recorder
	beats := 0
	dead := errors.New("peer unresponsive")
	w := kit.Writer{Encode: line, Write: rec.write, Meter: &countingMeter{}, HeartbeatEvery: 10 * time.Millisecond,
		Heartbeat: func() ([]byte, error) {
			if beats++; beats > 2 {
				return nil, dead
			}
			return []byte("ping\n"), nil
		}}
	if _, err := w.Run(context.Background(), sub, nil); !errors.Is(err, dead) {
		t.Fatalf("Run returned %v, want the heartbeat's error", err)
	}
	if got := strings.Join(rec.snapshot(), ""); got != "ping\nping\n" {
		t.Fatalf("wrote %q, want two heartbeats", got)
	}
}

// TestWriterClearsDeadlineWhenIdle: with DeadlineFiresIdle (an HTTP/2
// stream) the deadline set for a write is cleared once all is written, so
// an idle stream never reaches it; a socket's is left in place.
func TestWriterClearsDeadlineWhenIdle(t *testing.T) {
	for _, firesIdle := range []bool{true, false} {
		h := newHub(t)
		sub := subscribed(t, h, "t")
		var mu sync.Mutex
		var deadlines []time.Time
		var rec recorder
		w := kit.Writer{Encode: line, Write: rec.write, Meter: &countingMeter{}, WriteTimeout: time.Minute,
			DeadlineFiresIdle: firesIdle, SetWriteDeadline: func(at time.Time) error {
				mu.Lock()
				deadlines = append(deadlines, at)
				mu.Unlock()
				return nil
			}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Run(ctx, sub, nil); close(done) }()
		publishAll(t, h, "t", "a")
		poll.Eventually(t, 5*time.Second, "the write", func() bool { return len(rec.snapshot()) == 1 })
		want := 1 // set before the write
		if firesIdle {
			want = 2 // and cleared after it
		}
		poll.Eventually(t, 5*time.Second, "the deadline calls", func() bool { mu.Lock(); defer mu.Unlock(); return len(deadlines) >= want })
		cancel()
		<-done
		mu.Lock()
		if len(deadlines) != want || deadlines[0].IsZero() || firesIdle && !deadlines[1].IsZero() {
			t.Errorf("DeadlineFiresIdle=%v: deadlines %v", firesIdle, deadlines)
		}
		mu.Unlock()
	}
}

// TestWriterRunRecoversPanic: an encoder's panic ends Run with a
// *PanicError instead of the process.
func TestWriterRunRecoversPanic(t *testing.T) {
	h := newHub(t)
	sub := subscribed(t, h, "t")
	publishAll(t, h, "t", "boom")
	w := kit.Writer{Encode: func([]byte, hub.Delivery) []byte { panic("encoder bug") }, Write: func([]byte) error { return nil },
		Meter: &countingMeter{}}
	var perr *kit.PanicError
	if _, err := w.Run(context.Background(), sub, nil); !errors.As(err, &perr) {
		t.Fatalf("Run returned %v, want a *PanicError", err)
	}
}
