// Package latch holds a signalling channel that is made only when someone
// waits on it. A server keeps one or two such channels per connection
// and subscription (closed when it ends), and
// most of them are never waited on: checked without blocking, or replaced
// by a callback. An unmade channel costs a pointer instead of a channel
// (112 bytes each with Go 1.26), which counts at a million idle
// connections.
package latch

import "sync/atomic"

// closed is the channel a Latch closed before anyone waited hands out: a
// channel already closed, never written, shared by every such Latch.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Latch is a channel closed once. The zero value is open and ready to use.
type Latch struct {
	ch atomic.Pointer[chan struct{}]
}

// Done returns a channel closed once Close has run, making it on first use.
func (l *Latch) Done() <-chan struct{} {
	if p := l.ch.Load(); p != nil {
		return *p
	}
	c := make(chan struct{})
	if l.ch.CompareAndSwap(nil, &c) {
		return c
	}
	return *l.ch.Load()
}

// Close closes the latch. It must run at most once.
func (l *Latch) Close() {
	if l.ch.CompareAndSwap(nil, &closed) {
		return
	}
	close(*l.ch.Load())
}

// Closed reports whether Close has run, without making the channel.
func (l *Latch) Closed() bool {
	p := l.ch.Load()
	if p == nil {
		return false
	}
	select {
	case <-*p:
		return true
	default:
		return false
	}
}
