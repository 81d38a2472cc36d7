package limit

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	b := NewBudget(100)
	if !b.Reserve(60) || !b.Reserve(40) {
		t.Fatal("reservations within the budget refused")
	}
	if b.Reserve(1) {
		t.Fatal("reservation over the budget admitted")
	}
	b.Release(50)
	if !b.Reserve(50) || b.Used() != 100 || b.Exhausted() != 1 {
		t.Fatalf("used %d exhausted %d, want 100 and 1", b.Used(), b.Exhausted())
	}
	var none *Budget
	if !none.Reserve(1<<40) || none.Used() != 0 {
		t.Fatal("a nil budget limits")
	}
	none.Release(5)
	if NewBudget(0) != nil {
		t.Fatal("a zero budget should be no limit")
	}
}

// TestBudgetConcurrent: whatever the interleaving, what is admitted never
// exceeds the budget, and everything released comes back.
func TestBudgetConcurrent(t *testing.T) {
	t.Parallel()
	b := NewBudget(1000)
	var held atomic.Int64 // what admitted reservations hold; Used may overshoot for a moment
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if b.Reserve(300) {
					if h := held.Add(300); h > 1000 {
						t.Errorf("%d bytes admitted, over the budget", h)
					}
					held.Add(-300)
					b.Release(300)
				}
			}
		})
	}
	wg.Wait()
	if b.Used() != 0 {
		t.Fatalf("%d bytes never released", b.Used())
	}
}
