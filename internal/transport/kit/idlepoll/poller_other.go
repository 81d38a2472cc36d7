//go:build !linux

package idlepoll

import (
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"
)

// Poller is unavailable here: New fails and connections keep a goroutine
// waiting each.
type Poller struct{}

// New reports ErrUnsupported.
func New(*slog.Logger) (*Poller, error) { return nil, ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() {}

// Parked is always 0.
func (p *Poller) Parked() int64 { return 0 }

// Register reports ErrUnsupported.
func (p *Poller) Register(syscall.RawConn, func()) (*Handle, error) { return nil, ErrUnsupported }

// Init reports ErrUnsupported.
func (p *Poller) Init(*Handle, Owner) error { return ErrUnsupported }

// Handle is never registered here.
type Handle struct {
	o     Owner
	state atomic.Int32
}

// Park reports ErrUnsupported.
func (h *Handle) Park(time.Time) error { return ErrUnsupported }

// Release does nothing.
func (h *Handle) Release() {}

func (h *Handle) claim() bool { return h.state.CompareAndSwap(parked, running) }

// InputWaiting cannot tell here: true.
func InputWaiting(syscall.RawConn) bool { return true }
