package kit

import (
	"sync"
	"time"
)

// Heartbeats is a timing wheel shared by the spawned writers of a
// transport (Writer.Heartbeats): each idle writer waits for its next
// heartbeat as an entry of three words in one of its slots, where a timer
// of its own (time.AfterFunc: the runtime's timer, its func and the
// pointer to it, about 140 B) made every idle connection dearer. One
// timer walks the wheel, a slot per tick, while any writer waits in it.
//
// A heartbeat is due at a time; it comes at the first tick at or after
// that time, so never early and at most one slot late: a slot is a
// sixteenth of the heartbeat interval, a second at most (15 s heartbeats:
// within 0.94 s).
type Heartbeats struct {
	mu    sync.Mutex
	res   int64      // a slot's span, in nanoseconds
	slots []*spawned // each a circular list's sentinel
	next  int64      // the tick walked next: every earlier one was
	n     int        // writers waiting
	armed bool       // the timer is set (or its walk is under way)
	timer *time.Timer

	// now reads the clock (monoNow, or a test's); arm sets the timer to
	// walk after d (nil: the tests walk with tick); fire tells a writer
	// its heartbeat is due ((*spawned).heartbeatDue, or a test's record).
	now  func() int64
	arm  func(d time.Duration)
	fire func(*spawned)
}

// maxSlot bounds a slot's span; slotsPerInterval is how many slots one
// interval spans below that.
const (
	maxSlot          = time.Second
	slotsPerInterval = 16
)

// NewHeartbeats returns a wheel for writers that beat every interval
// (their Writer's HeartbeatEvery; others may share it, as only the slot
// span depends on it).
func NewHeartbeats(interval time.Duration) *Heartbeats {
	b := newHeartbeats(interval, monoNow)
	b.arm = func(d time.Duration) {
		if b.timer == nil {
			b.timer = time.AfterFunc(d, b.tick)
			return
		}
		b.timer.Reset(d)
	}
	return b
}

func newHeartbeats(interval time.Duration, now func() int64) *Heartbeats {
	res := min(maxSlot, max(interval/slotsPerInterval, time.Millisecond))
	// Enough slots that a heartbeat one interval ahead lands a slot
	// apart from the one walked next; later ones go round (add).
	b := &Heartbeats{res: int64(res), slots: make([]*spawned, slotsPerInterval+2), now: now, fire: (*spawned).heartbeatDue}
	if n := int(interval/res) + 2; n > len(b.slots) {
		b.slots = make([]*spawned, n)
	}
	for i := range b.slots {
		s := &spawned{}
		s.prev, s.next = s, s
		b.slots[i] = s
	}
	b.next = now() / b.res
	return b
}

// add has s's heartbeat come at (or just after) at, a monoNow time,
// moving it if it waited already.
func (b *Heartbeats) add(s *spawned, at int64) {
	t := (at + b.res - 1) / b.res // the first tick at or after at
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.next != nil {
		b.unlink(s)
	}
	if b.n == 0 && !b.armed { // the wheel stood still: catch up
		b.next = max(b.next, b.now()/b.res)
	}
	t = max(t, b.next)
	head := b.slots[t%int64(len(b.slots))]
	s.due = t
	s.prev, s.next = head.prev, head
	head.prev.next = s
	head.prev = s
	b.n++
	if !b.armed && b.arm != nil {
		b.armed = true
		b.arm(b.untilTick(b.next))
	}
}

// remove takes s out of the wheel, if it is in.
func (b *Heartbeats) remove(s *spawned) {
	b.mu.Lock()
	if s.next != nil {
		b.unlink(s)
	}
	b.mu.Unlock()
}

func (b *Heartbeats) unlink(s *spawned) {
	s.prev.next = s.next
	s.next.prev = s.prev
	s.prev, s.next = nil, nil
	b.n--
}

// untilTick is how long until tick t's time, at least a nanosecond.
func (b *Heartbeats) untilTick(t int64) time.Duration {
	return time.Duration(max(t*b.res-b.now(), 1))
}

// tick walks every slot whose time has come, takes out the writers due
// and tells each (heartbeatDue), after the lock: their writers may
// start at once and move their entries. The timer is set again while
// any writer waits.
func (b *Heartbeats) tick() {
	var due []*spawned
	b.mu.Lock()
	upto := b.now() / b.res
	// One round is enough however late the walk: entries are checked
	// against their own tick.
	last := min(upto, b.next+int64(len(b.slots))-1)
	for ; b.next <= last; b.next++ {
		head := b.slots[b.next%int64(len(b.slots))]
		for s := head.next; s != head; {
			following := s.next
			if s.due <= upto { // a later round's stays
				b.unlink(s)
				due = append(due, s)
			}
			s = following
		}
	}
	b.next = max(b.next, upto+1)
	b.armed = b.n > 0 && b.arm != nil
	if b.armed {
		b.arm(b.untilTick(b.next))
	}
	b.mu.Unlock()
	for _, s := range due {
		b.fire(s)
	}
}

// waiting is how many writers wait in the wheel.
func (b *Heartbeats) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// monoBase is the origin of monoNow's clock, set once.
var monoBase = time.Now()

// monoNow is the monotonic clock in nanoseconds since monoBase: a
// timestamp in one word where a time.Time takes three.
func monoNow() int64 { return int64(time.Since(monoBase)) }
