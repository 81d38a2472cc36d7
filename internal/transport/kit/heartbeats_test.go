package kit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeWheel is a Heartbeats on a clock the test moves, walked by explicit
// ticks, recording what fires.
type fakeWheel struct {
	*Heartbeats
	clock atomic.Int64
	mu    sync.Mutex
	fired map[*spawned]int
}

func newFakeWheel(interval time.Duration) *fakeWheel {
	w := &fakeWheel{fired: map[*spawned]int{}}
	w.clock.Store(int64(time.Hour)) // anywhere but zero
	w.Heartbeats = newHeartbeats(interval, w.clock.Load)
	w.fire = func(s *spawned) {
		w.mu.Lock()
		w.fired[s]++
		w.mu.Unlock()
	}
	return w
}

func (w *fakeWheel) advance(d time.Duration) { w.clock.Add(int64(d)); w.tick() }

func (w *fakeWheel) count(s *spawned) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired[s]
}

// TestHeartbeatsFireAtTheirTimeNeverEarly: a writer is told at the first
// tick at or after its due time, once, never before it, and at most one
// slot after.
func TestHeartbeatsFireAtTheirTimeNeverEarly(t *testing.T) {
	const interval = 15 * time.Second
	w := newFakeWheel(interval)
	if time.Duration(w.res) != interval/slotsPerInterval {
		t.Fatalf("slot %v, want %v", time.Duration(w.res), interval/slotsPerInterval)
	}
	var a, b spawned
	w.add(&a, w.clock.Load()+int64(interval))
	w.add(&b, w.clock.Load()+int64(interval/3))
	step := interval / 100
	var elapsed time.Duration
	for elapsed < 2*interval {
		w.advance(step)
		elapsed += step
		if n := w.count(&a); n > 0 && elapsed < interval || n == 0 && elapsed >= interval+time.Duration(w.res) {
			t.Fatalf("a fired %d times at %v after it was added for %v", n, elapsed, interval)
		}
		if n := w.count(&b); n > 0 && elapsed < interval/3 || n == 0 && elapsed >= interval/3+time.Duration(w.res) {
			t.Fatalf("b fired %d times at %v after it was added for %v", n, elapsed, interval/3)
		}
	}
	if w.count(&a) != 1 || w.count(&b) != 1 || w.waiting() != 0 {
		t.Fatalf("fired a %d, b %d times, %d still waiting; want once each, none", w.count(&a), w.count(&b), w.waiting())
	}
}

// TestHeartbeatsRemoveAndMove: a removed writer is not told; one added
// again waits for its new time only.
func TestHeartbeatsRemoveAndMove(t *testing.T) {
	const interval = 2 * time.Second
	w := newFakeWheel(interval)
	var gone, moved spawned
	w.add(&gone, w.clock.Load()+int64(interval))
	w.add(&moved, w.clock.Load()+int64(interval))
	w.remove(&gone)
	w.remove(&gone) // twice: nothing
	w.add(&moved, w.clock.Load()+int64(3*interval))
	w.advance(2 * interval)
	if w.count(&gone) != 0 || w.count(&moved) != 0 {
		t.Fatalf("fired removed %d, moved %d times before the moved one's time", w.count(&gone), w.count(&moved))
	}
	w.advance(interval + time.Duration(w.res))
	if w.count(&gone) != 0 || w.count(&moved) != 1 {
		t.Fatalf("fired removed %d, moved %d times; want 0 and 1", w.count(&gone), w.count(&moved))
	}
}

// TestHeartbeatsLateWalkAndLaterRounds: a walk that comes long after its
// tick (a stalled timer) tells everyone due by then, and keeps those due
// later than one round of the wheel ahead for their own round.
func TestHeartbeatsLateWalkAndLaterRounds(t *testing.T) {
	const interval = time.Second
	w := newFakeWheel(interval)
	round := time.Duration(w.res) * time.Duration(len(w.slots))
	var soon, far spawned
	w.add(&soon, w.clock.Load()+int64(interval))
	w.add(&far, w.clock.Load()+int64(3*round+interval))
	w.advance(2 * round) // one walk, two rounds late
	if w.count(&soon) != 1 || w.count(&far) != 0 {
		t.Fatalf("fired soon %d, far %d times; want 1 and 0", w.count(&soon), w.count(&far))
	}
	for w.count(&far) == 0 {
		if w.clock.Load() > int64(time.Hour)+int64(4*round+interval) {
			t.Fatal("far never fired")
		}
		w.advance(time.Duration(w.res))
	}
	if w.clock.Load() < int64(time.Hour)+int64(3*round+interval) {
		t.Fatal("far fired early")
	}
}

// TestHeartbeatsConcurrent: writers added, moved and removed while the
// wheel is walked (run with -race); every writer still in the wheel at
// the end is told exactly once by a walk past its time, and none removed
// is left behind.
func TestHeartbeatsConcurrent(t *testing.T) {
	const interval = 100 * time.Millisecond
	w := newFakeWheel(interval)
	const writers = 64
	ss := make([]spawned, writers)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		for {
			select {
			case <-stop:
				return
			default:
				w.advance(time.Duration(w.res) / 3)
			}
		}
	}()
	for i := range ss {
		wg.Add(1)
		go func(s *spawned) {
			defer wg.Done()
			for j := range 200 {
				switch j % 3 {
				case 0, 1:
					w.add(s, w.clock.Load()+int64(interval))
				case 2:
					w.remove(s)
				}
			}
		}(&ss[i])
	}
	wg.Wait()
	close(stop)
	<-ticking
	// 200 % 3 == 2: each writer's last call was an add.
	if n := w.waiting(); n > writers {
		t.Fatalf("%d waiting for %d writers", n, writers)
	}
	w.mu.Lock()
	clear(w.fired)
	w.mu.Unlock()
	waiting := w.waiting()
	w.advance(interval + time.Duration(w.res))
	total := 0
	for i := range ss {
		if n := w.count(&ss[i]); n > 1 {
			t.Fatalf("writer %d told %d times", i, n)
		}
		total += w.count(&ss[i])
	}
	if total != waiting || w.waiting() != 0 {
		t.Fatalf("told %d of %d waiting; %d left", total, waiting, w.waiting())
	}
}
