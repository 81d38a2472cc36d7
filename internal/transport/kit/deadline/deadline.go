// Package deadline moves connection deadlines lazily. Setting a deadline
// on a socket re-arms a runtime timer, which on a busy connection costs
// more than the write it guards; a deadline that still has at least three
// quarters of its span ahead is good enough and is left alone, so it moves
// at most once per quarter span.
package deadline

import "time"

// Lazy tracks one deadline of one connection. The zero value has none
// set. It is not safe for concurrent use: each direction of a connection
// (reads, writes) has its own, used by whoever reads or writes. It keeps
// the deadline as Unix nanoseconds, one word where a time.Time takes
// three: every idle connection holds one or two.
type Lazy struct {
	at int64 // 0: none
}

// Next returns the deadline to set for an operation that should be given
// span from now, and whether it must be set: false while the current one
// still leaves at least three quarters of span. An MQTT keep-alive of 1.5
// times the interval thus expires between 1.125 and 1.5 intervals after
// the last packet. A span of zero or less means no
// deadline; it is reported once, to clear a previous one.
func (l *Lazy) Next(now time.Time, span time.Duration) (time.Time, bool) {
	if span <= 0 {
		if l.at == 0 {
			return time.Time{}, false
		}
		l.at = 0
		return time.Time{}, true
	}
	if l.at != 0 && time.Duration(l.at-now.UnixNano()) >= span-span/4 {
		return l.At(), false
	}
	at := now.Add(span)
	l.at = at.UnixNano()
	return at, true
}

// Expired reports whether the deadline has passed at now, and if so
// forgets it; the caller then clears the socket's (Try). A write that does
// not wait needs no deadline, but one left by the last write that waited,
// once passed, refuses it all the same (kit.WriteNow).
func (l *Lazy) Expired(now time.Time) bool {
	if l.at == 0 || now.UnixNano() < l.at {
		return false
	}
	l.at = 0
	return true
}

// Try runs write, a write that does not wait, once more if it wrote
// nothing because the deadline has passed: it then forgets the deadline
// and clears the socket's with set first. (Otherwise every write that
// does not wait, after the last one that waited, went to a goroutine
// that may wait, to move the deadline.)
func (l *Lazy) Try(set func(time.Time) error, write func() (int, error)) (int, error) {
	n, err := write()
	if n == 0 && err == nil && l.Expired(time.Now()) {
		_ = set(time.Time{})
		n, err = write()
	}
	return n, err
}

// Reset forgets the deadline, for when something else set the socket's.
func (l *Lazy) Reset() { l.at = 0 }

// At is the deadline last reported (the zero time for none).
func (l *Lazy) At() time.Time {
	if l.at == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.at)
}
