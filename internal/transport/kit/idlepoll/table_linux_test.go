//go:build linux

package idlepoll

import "testing"

// An event armed for a released handle never reaches the handle that took
// its slot after.
func TestTableSlotReuseChangesGeneration(t *testing.T) {
	tb := newTable()
	a, b := &Handle{}, &Handle{}
	sa := tb.add(a)
	gen := tb.gen(sa)
	if tb.get(sa, gen) != a {
		t.Fatal("a not found in its slot")
	}
	tb.remove(sa)
	if tb.get(sa, gen) != nil {
		t.Fatal("a released slot still finds its handle")
	}
	if sb := tb.add(b); sb != sa {
		t.Fatalf("slot %d not reused (got %d)", sa, sb)
	}
	if tb.get(sa, gen) != nil {
		t.Fatal("an old generation's event reached the slot's new handle")
	}
	if tb.get(sa, tb.gen(sa)) != b || tb.live != 1 {
		t.Fatalf("b not found, or %d live", tb.live)
	}
	for range 3 * chunkSize {
		tb.add(&Handle{})
	}
	if tb.live != 3*chunkSize+1 || tb.get(tb.used, 0) != nil {
		t.Fatalf("%d live after %d adds; a slot past the end found something", tb.live, 3*chunkSize+1)
	}
}
