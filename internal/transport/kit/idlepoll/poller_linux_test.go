//go:build linux

package idlepoll

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/testkit/loopback"
	"streamhub/internal/testkit/poll"
)

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// pair is a connected loopback pair: server side s (parked), client c.
func pair(t *testing.T) (s, c net.Conn) {
	t.Helper()
	c, s = loopback.Pair(t)
	return s, c
}

func rawConn(t *testing.T, nc net.Conn) syscall.RawConn {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// wait receives from ch or fails the test after a generous bound (a
// stuck poller, not a slow one).
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	return poll.Receive(t, ch, what)
}

func TestInputWakesParkedConnection(t *testing.T) {
	p := newPoller(t)
	s, c := pair(t)
	woke := make(chan struct{}, 4)
	h, _ := p.Register(rawConn(t, s), func() { woke <- struct{}{} })
	if err := h.Park(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if !h.Parked() || p.Parked() != 1 {
		t.Fatalf("parked = %v, poller parked = %d", h.Parked(), p.Parked())
	}
	c.Write([]byte("x"))
	wait(t, woke, "wake on input")
	if h.Parked() || p.Parked() != 0 {
		t.Fatalf("after wake: parked = %v, poller parked = %d", h.Parked(), p.Parked())
	}
	// The wake function owns the connection: it reads what came.
	var b [1]byte
	if _, err := io.ReadFull(s, b[:]); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v", b, err)
	}
	// Input already there when parking wakes at once (level-triggered).
	c.Write([]byte("y"))
	if _, err := io.ReadFull(s, b[:]); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("z"))
	if err := h.Park(time.Time{}); err != nil {
		t.Fatal(err)
	}
	wait(t, woke, "wake on input present at park")
}

func TestHangUpWakesParkedConnection(t *testing.T) {
	p := newPoller(t)
	s, c := pair(t)
	woke := make(chan struct{}, 1)
	h, _ := p.Register(rawConn(t, s), func() { woke <- struct{}{} })
	if err := h.Park(time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	wait(t, woke, "wake on hang-up")
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after hang-up: %v", err)
	}
}

func TestDeadlineWakesParkedConnection(t *testing.T) {
	p := newPoller(t)
	s, _ := pair(t)
	woke := make(chan time.Time, 1)
	h, _ := p.Register(rawConn(t, s), func() { woke <- time.Now() })
	due := time.Now().Add(1500 * time.Millisecond)
	if err := h.Park(due); err != nil {
		t.Fatal(err)
	}
	if at := wait(t, woke, "wake at the deadline"); at.Before(due) {
		t.Fatalf("woke at %v, before the deadline %v", at, due)
	}
	// A deadline already past wakes at the next tick.
	if err := h.Park(time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	wait(t, woke, "wake for a past deadline")
}

func TestParkAgainDropsTheOldDeadline(t *testing.T) {
	p := newPoller(t)
	s, c := pair(t)
	woke := make(chan string, 4)
	var h *Handle
	h, _ = p.Register(rawConn(t, s), func() { woke <- "woke" })
	if err := h.Park(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	h.Wake()
	wait(t, woke, "Wake")
	// Parked again without a deadline: the first one's tick must not
	// wake it; input does.
	if err := h.Park(time.Time{}); err != nil {
		t.Fatal(err)
	}
	p.expire(time.Now().Add(time.Hour).Unix())
	if !h.Parked() {
		t.Fatal("an old deadline woke a handle parked again without one")
	}
	c.Write([]byte("x"))
	wait(t, woke, "wake on input")
}

func TestWakeOnlyWakesParked(t *testing.T) {
	p := newPoller(t)
	s, _ := pair(t)
	var wakes atomic.Int32
	h, _ := p.Register(rawConn(t, s), func() { wakes.Add(1) })
	h.Wake() // running: nothing
	if err := h.Park(time.Time{}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		go h.Wake()
	}
	deadline := time.Now().Add(30 * time.Second)
	for wakes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := wakes.Load(); n != 1 {
		t.Fatalf("%d wakes for one park", n)
	}
}

func TestReleasedOrClosedHandleIsNotParked(t *testing.T) {
	p := newPoller(t)
	s, _ := pair(t)
	h, _ := p.Register(rawConn(t, s), func() { t.Error("a released handle woke") })
	h.Release()
	if err := h.Park(time.Time{}); err == nil {
		t.Fatal("parked a released handle")
	}
	// A socket closed under its handle: Park fails and the caller keeps
	// the connection.
	s2, _ := pair(t)
	h2, _ := p.Register(rawConn(t, s2), func() { t.Error("a closed socket's handle woke") })
	s2.Close()
	if err := h2.Park(time.Time{}); err == nil {
		t.Fatal("parked a closed socket")
	}
	if h2.Parked() || p.Parked() != 0 {
		t.Fatalf("parked = %v, poller parked = %d", h2.Parked(), p.Parked())
	}
	p.mu.Lock()
	left := p.handles.live
	p.mu.Unlock()
	if left != 1 {
		t.Fatalf("%d registrations left, want 1 (the unreleased one)", left)
	}
}

// TestEveryParkWakesOnce runs random sequences of parks, input, Wake and
// deadlines over many connections at once and checks the state machine's
// promise: each park is followed by exactly one wake, whatever wakes it.
func TestEveryParkWakesOnce(t *testing.T) {
	p := newPoller(t)
	const conns, rounds = 32, 40
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wokeAll := make([]chan struct{}, conns)
	for i := range conns {
		s, c := pair(t)
		rc := rawConn(t, s)
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			woke := make(chan struct{}, 4)
			h, _ := p.Register(rc, func() { woke <- struct{}{} })
			buf := make([]byte, 64)
			for range rounds {
				var due time.Time
				if rng.IntN(4) == 0 {
					due = time.Now().Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
				}
				if err := h.Park(due); err != nil {
					t.Errorf("park: %v", err)
					return
				}
				switch rng.IntN(3) {
				case 0:
					c.Write([]byte("x"))
				case 1:
					for range 1 + rng.IntN(3) {
						go h.Wake()
					}
				case 2:
					if due.IsZero() {
						h.Wake()
					} // else: the deadline wakes it
				}
				select {
				case <-woke:
				case <-ctx.Done():
					t.Error("a park never woke")
					return
				}
				// The owner again: take any input, without waiting for it.
				s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
				for {
					if _, err := s.Read(buf); err != nil {
						break
					}
				}
				s.SetReadDeadline(time.Time{})
			}
			wokeAll[seed] = woke
		}(uint64(i))
	}
	wg.Wait()
	// No second wake for any park, whatever deadline is still listed. (A
	// late second wake would be missed here, never a false failure.)
	p.expire(time.Now().Add(time.Hour).Unix())
	time.Sleep(100 * time.Millisecond)
	for _, woke := range wokeAll {
		select {
		case <-woke:
			t.Error("a park woke twice")
		default:
		}
	}
	if n := p.Parked(); n != 0 {
		t.Fatalf("%d still counted parked", n)
	}
}

func TestCloseEndsTheLoop(t *testing.T) {
	p, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	select {
	case <-p.done:
	default:
		t.Fatal("loop still running after Close")
	}
	p.Close() // twice is fine
}

// TestParkAfterCloseFails: a poller closed (its epoll descriptor gone, its
// number free for another poller's) parks nothing more: the caller keeps
// its connection and waits itself.
func TestParkAfterCloseFails(t *testing.T) {
	p, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := pair(t)
	h, _ := p.Register(rawConn(t, s), func() { t.Error("a handle of a closed poller woke") })
	p.Close()
	if err := h.Park(time.Time{}); err == nil {
		t.Fatal("parked in a closed poller")
	}
	if h.Parked() || p.Parked() != 0 {
		t.Fatalf("parked = %v, poller parked = %d", h.Parked(), p.Parked())
	}
	h.Release()
}

// TestWakeDuringParkThenParkAgain: a Wake may claim a park before its
// socket is armed; the woken goroutine parks again at once, while the
// first Park may still be arming. Both must be one owner's in turn.
func TestWakeDuringParkThenParkAgain(t *testing.T) {
	p := newPoller(t)
	s, _ := pair(t)
	const rounds = 2000
	done := make(chan struct{})
	var h *Handle
	var n atomic.Int32
	h, _ = p.Register(rawConn(t, s), func() {
		if n.Add(1) == rounds {
			close(done)
			return
		}
		if err := h.Park(time.Time{}); err != nil {
			t.Errorf("park again: %v", err)
		}
	})
	go func() { // wakes whatever park is there, as kicks and closes do
		for {
			select {
			case <-done:
				return
			default:
				h.Wake()
			}
		}
	}()
	if err := h.Park(time.Time{}); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "every round")
	h.Release()
}
