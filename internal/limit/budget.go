package limit

import "sync/atomic"

// Budget bounds the bytes that all connections of a server may hold in
// packets still arriving. A declared length is a promise, not a payment:
// a reader reserves memory as the bytes come, so a thousand sockets that
// announce 8 MiB and send nothing hold nothing, and the total held by
// those that do send is capped here. A nil *Budget limits nothing.
type Budget struct {
	max       int64
	used      atomic.Int64
	exhausted atomic.Int64
}

// NewBudget returns a budget of max bytes, or nil (no limit) when max <= 0.
func NewBudget(max int64) *Budget {
	if max <= 0 {
		return nil
	}
	return &Budget{max: max}
}

// Reserve takes n bytes from the budget and reports whether they were
// there; a refusal is counted. Concurrent reservations may briefly
// overshoot together and both be refused, never both admitted over max.
func (b *Budget) Reserve(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	if b.used.Add(int64(n)) > b.max {
		b.used.Add(-int64(n))
		b.exhausted.Add(1)
		return false
	}
	return true
}

// Release gives back n bytes reserved before.
func (b *Budget) Release(n int) {
	if b != nil && n > 0 {
		b.used.Add(-int64(n))
	}
}

// Used is the number of bytes reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Exhausted is how many reservations were refused since the start.
func (b *Budget) Exhausted() int64 {
	if b == nil {
		return 0
	}
	return b.exhausted.Load()
}
