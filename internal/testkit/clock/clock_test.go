package clock

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestTimersFireOnlyWhenDue(t *testing.T) {
	var c Fake
	var fired atomic.Int32
	c.AfterFunc(10*time.Second, func() { fired.Add(1) })
	stopped := c.AfterFunc(5*time.Second, func() { fired.Add(100) })
	c.Advance(4 * time.Second)
	if fired.Load() != 0 {
		t.Fatalf("fired %d before its time", fired.Load())
	}
	if !stopped.Stop() {
		t.Fatal("Stop of a timer not fired reported false")
	}
	c.Advance(5 * time.Second)
	if fired.Load() != 0 {
		t.Fatalf("fired %d: a stopped timer or one before its time", fired.Load())
	}
	c.Advance(time.Second)
	if fired.Load() != 1 {
		t.Fatalf("fired %d, want the 10 s timer alone", fired.Load())
	}
	c.Advance(time.Hour)
	if fired.Load() != 1 {
		t.Fatalf("fired %d: a timer fired twice", fired.Load())
	}
}

func TestStopLateFiresAnyway(t *testing.T) {
	var c Fake
	var fired atomic.Int32
	tm := c.AfterFunc(time.Minute, func() { fired.Add(1) })
	c.StopLate(1)
	if tm.Stop() {
		t.Fatal("a late Stop reported true")
	}
	c.Advance(0)
	if fired.Load() != 1 {
		t.Fatal("a timer stopped too late did not fire at the next Advance")
	}
}
