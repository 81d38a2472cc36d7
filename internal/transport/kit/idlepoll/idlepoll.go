// Package idlepoll lets idle connections wait for input without a goroutine
// each. A connection that has read all its input parks its socket here and
// its goroutine returns; one goroutine per Poller waits on an epoll instance
// of its own for every parked socket and starts the connection's wake
// function on a new goroutine when input (or a hang-up) arrives, when the
// connection's deadline passes, or when Wake is called (a kick, a close).
//
// The connection keeps its net.Conn, crypto/tls and its readers unchanged:
// the wake function reads through them as before. The runtime's netpoller
// keeps its own registration of the socket; parking only saves the
// goroutine that would otherwise sit in Read. See docs/IDLE.md.
//
// On systems without epoll New fails with ErrUnsupported and callers keep a
// goroutine waiting per connection.
package idlepoll

import (
	"errors"
	"syscall"
	"time"
)

// ErrUnsupported is returned by New where there is no epoll.
var ErrUnsupported = errors.New("idlepoll: not supported on this system")

// Handle states. A handle is running while its connection's goroutine
// owns it, parked while the Poller waits for it, released once its
// connection ended.
const (
	running int32 = iota
	parked
	released
)

// Wake starts the wake function now if the handle is parked (a kick or a
// close that the parked connection must notice); otherwise nothing
// happens, since the connection's goroutine is running and will see why.
func (h *Handle) Wake() {
	if h.claim() {
		go h.o.Resume()
	}
}

// Owner is a connection that keeps its Handle inside itself (Init).
type Owner interface {
	// IdleSocket is the socket the connection's input arrives on (as
	// Socket gives it); called whenever the handle arms or disarms it.
	IdleSocket() syscall.RawConn
	// Resume is the wake function: it runs on a new goroutine when the
	// parked connection has something to do.
	Resume()
}

// registered is a handle made by Register, with the socket and the wake
// function it was given: one allocation.
type registered struct {
	Handle
	rc   syscall.RawConn
	wake func()
}

func (r *registered) IdleSocket() syscall.RawConn { return r.rc }
func (r *registered) Resume()                     { r.wake() }

// Parked reports whether the handle waits in the Poller.
func (h *Handle) Parked() bool { return h.state.Load() == parked }

// unixTick is t rounded up to the next whole second, the granularity of
// deadlines (keep-alives are counted in seconds); 0 for the zero time.
func unixTick(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
