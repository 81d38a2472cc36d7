package cluster

import "testing"

// TestPositionsStayIncreasing: non-durable positions lie between durable
// ones, a tick is asked for once at tickAt, and the count never spills
// into the next durable position.
func TestPositionsStayIncreasing(t *testing.T) {
	p := positions{}
	p.durable(7)
	if s, ok, _ := p.next(); !ok || s != durablePosition(7)+1 || streamSeq(s) != 7 {
		t.Fatalf("first local position %d %v", s, ok)
	}
	p.count = tickAt - 1
	if _, ok, tick := p.next(); !ok || !tick {
		t.Fatal("no tick at tickAt")
	}
	p.count = 1<<localBits - 2
	if s, ok, _ := p.next(); !ok || s >= durablePosition(8) {
		t.Fatalf("last local position %d %v", s, ok)
	}
	if _, ok, _ := p.next(); ok {
		t.Fatal("a position past the local count")
	}
	p.durable(8)
	if p.last() != durablePosition(8) {
		t.Fatal("durable position")
	}
}
