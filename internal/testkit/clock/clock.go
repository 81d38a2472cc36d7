// Package clock is a fake clock for code that starts its timers through
// an injected time.AfterFunc (the MQTT session timers: expiry, will
// delay): the timers fire when a test says time has passed, and only
// then, so that sequences of events are deterministic and take no real
// time. It imports nothing of streamhub, so any package's tests can use it.
package clock

import (
	"sync"
	"time"
)

// Fake is a clock that moves only on Advance. Its zero value is ready,
// at time 0.
type Fake struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*Timer
	// late is how many of the next stops come too late (StopLate).
	late int
}

// Timer is a timer started on a Fake clock.
type Timer struct {
	clock *Fake
	at    time.Duration
	f     func()
	done  bool // fired or stopped
}

// AfterFunc starts a timer that runs f on a goroutine of its own once
// the clock has advanced by d, as time.AfterFunc does on the real one.
func (c *Fake) AfterFunc(d time.Duration, f func()) *Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &Timer{clock: c, at: c.now + d, f: f}
	c.timers = append(c.timers, t)
	return t
}

// StopLate makes the next n stops come too late: Stop reports false and
// the timer fires at the next Advance, as a real timer does whose
// function has started and waits for a lock the stopper holds.
func (c *Fake) StopLate(n int) {
	c.mu.Lock()
	c.late = n
	c.mu.Unlock()
}

// Stop prevents the timer from firing; it reports false if it had fired,
// was stopped, or (StopLate) fires anyway.
func (t *Timer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if t.done {
		return false
	}
	if t.clock.late > 0 {
		t.clock.late--
		t.at = t.clock.now
		return false
	}
	t.done = true
	return true
}

// Advance moves the clock by d and fires every timer due, all at once on
// goroutines of their own as time.AfterFunc would, and waits for them.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now += d
	var due []*Timer
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.done:
		case t.at <= c.now:
			t.done = true
			due = append(due, t)
		default:
			kept = append(kept, t)
		}
	}
	clear(c.timers[len(kept):])
	c.timers = kept
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range due {
		wg.Go(t.f)
	}
	wg.Wait()
}
