//go:build linux

package idlepoll

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Poller waits for input on parked sockets: one epoll instance and one
// goroutine for all of them. The epoll instance is itself waited for by
// the runtime's netpoller (it is readable while it has events), so the
// loop's goroutine sleeps like any reader: no thread blocked in
// epoll_wait, which, with one P (a server pinned to one core), held the P
// until sysmon took it back and cost a thread hand-off per wake.
type Poller struct {
	log    *slog.Logger
	ep     *os.File        // the epoll instance, non-blocking
	epc    syscall.RawConn // ep's, for epoll_ctl and epoll_wait
	parked atomic.Int64

	mu sync.Mutex
	// handles finds a handle by the slot its epoll events carry.
	handles table
	// timers holds parked handles by the tick their deadline falls in;
	// an entry whose handle was woken or parked again with another
	// deadline is skipped when its tick comes (Handle.due tells).
	timers  map[int64][]*Handle
	expired int64 // the last tick whose timers ran

	closeOnce sync.Once
	done      chan struct{}
}

// New starts a Poller; Close ends it.
func New(log *slog.Logger) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("idlepoll: epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("idlepoll: epoll: %w", err)
	}
	// Non-blocking, os.NewFile registers it with the runtime's netpoller;
	// a file that is not pollable takes no deadline.
	ep := os.NewFile(uintptr(epfd), "idlepoll")
	epc, err := ep.SyscallConn()
	if err == nil {
		err = ep.SetReadDeadline(time.Time{})
	}
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("idlepoll: epoll not pollable: %w", err)
	}
	p := &Poller{
		log:     log,
		ep:      ep,
		epc:     epc,
		handles: newTable(),
		timers:  make(map[int64][]*Handle),
		expired: time.Now().Unix(),
		done:    make(chan struct{}),
	}
	go p.run()
	return p, nil
}

// Close ends the loop. Handles still parked stay parked: their
// connections end through Wake (a close, a kick), which needs no loop;
// parking fails from now on.
func (p *Poller) Close() {
	p.closeOnce.Do(func() {
		p.ep.Close() // wakes the loop's wait with an error
		<-p.done
	})
}

// ctl runs epoll_ctl on the poller's instance, which stays open meanwhile
// (after Close: an error, never another descriptor with its number).
func (p *Poller) ctl(op, fd int, ev *unix.EpollEvent) error {
	var err error
	if cerr := p.epc.Control(func(epfd uintptr) { err = unix.EpollCtl(int(epfd), op, fd, ev) }); cerr != nil {
		return cerr
	}
	return err
}

// Parked is the number of connections waiting in the Poller now.
func (p *Poller) Parked() int64 { return p.parked.Load() }

// Register makes a handle for a connection's socket; wake is what runs,
// on a new goroutine, when the parked connection has something to do.
// The caller owns the handle (it is running) until it parks it.
func (p *Poller) Register(rc syscall.RawConn, wake func()) (*Handle, error) {
	r := &registered{rc: rc, wake: wake}
	if err := p.Init(&r.Handle, r); err != nil {
		return nil, err
	}
	return &r.Handle, nil
}

// Init registers a handle the connection keeps inside itself (o, whose
// socket and wake function it stands for), where Register would allocate
// one apart: a connection that parks holds one for its whole life. The
// caller owns the handle (it is running) until it parks it; h is used
// once.
func (p *Poller) Init(h *Handle, o Owner) error {
	h.p, h.o = p, o
	p.mu.Lock()
	h.slot = p.handles.add(h)
	p.mu.Unlock()
	return nil
}

// Handle is one connection's registration with a Poller. Park and Release
// are called by the goroutine that owns the connection (the one a wake
// function runs on); Wake may be called from any goroutine. Kept small:
// connections that park hold one each (48 B).
type Handle struct {
	p     *Poller
	o     Owner
	slot  uint32 // in p.handles, and in the socket's epoll events
	state atomic.Int32
	// due is the parked deadline's tick, 0 for none (under p.mu), listed
	// in p.timers while set: Unix seconds in 32 bits (to 2106; a later
	// deadline waits for the last tick), beside slot and state.
	due   uint32
	added bool // known to epoll (under arming)
	// arming is held while Park arms the socket and Release disarms it:
	// a Wake may claim a park before its epoll_ctl ran, and the woken
	// goroutine's own Park must wait for that one to finish.
	arming sync.Mutex
}

// Park hands the connection to the Poller until its socket has input or
// hangs up, its deadline (the zero time for none) passes, or Wake is
// called; then wake runs on a new goroutine. When Park returns nil the
// caller must return without touching the connection again; on an error
// it still owns the connection and should wait for input itself.
//
// Input already read from the socket into a buffer (crypto/tls reads
// ahead) does not wake a parked connection: drain it first.
func (h *Handle) Park(deadline time.Time) error {
	rc := h.o.IdleSocket()
	if d, ok := rc.(demoter); ok {
		d.Demote() // an idle socket of ours holds its descriptor alone
	}
	h.arming.Lock()
	defer h.arming.Unlock()
	p := h.p
	p.mu.Lock()
	if h.state.Load() == released {
		p.mu.Unlock()
		return errReleased
	}
	gen := p.handles.gen(h.slot)
	// A handle whose due is set is in that tick's timers (expire and
	// Release clear it): parked again with the same deadline (MQTT's
	// moves once a quarter of its keep-alive), it is not listed twice.
	listed := h.due
	h.due = 0
	if due := unixTick(deadline); due != 0 {
		h.due = uint32(min(max(due, p.expired+1), math.MaxUint32))
		if h.due != listed {
			p.timers[int64(h.due)] = append(p.timers[int64(h.due)], h)
		}
	}
	// Parked before the socket is armed: its input may claim it at once.
	h.state.Store(parked)
	p.mu.Unlock()
	p.parked.Add(1)

	var err error
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(h.slot), Pad: int32(gen)}
	// Control holds the descriptor open while epoll_ctl uses its number.
	cerr := rc.Control(func(fd uintptr) {
		op := unix.EPOLL_CTL_MOD
		if !h.added {
			op = unix.EPOLL_CTL_ADD
		}
		err = p.ctl(op, int(fd), &ev)
		if err == nil {
			h.added = true
		}
	})
	if cerr != nil {
		err = cerr
	}
	if err == nil {
		return nil
	}
	if h.claim() {
		return fmt.Errorf("idlepoll: park: %w", err)
	}
	// A deadline or Wake claimed it meanwhile: its wake function runs.
	return nil
}

// demoter is a socket that sheds what it holds only while busy
// (sockconn.Conn's RawConn: the runtime's descriptor of a duplicate).
type demoter interface{ Demote() }

var errReleased = errors.New("idlepoll: handle released")

// claim moves a parked handle to running and reports whether the caller
// won it: exactly one of input, the deadline and Wake starts the wake
// function of one park.
func (h *Handle) claim() bool {
	if h.state.CompareAndSwap(parked, running) {
		h.p.parked.Add(-1)
		return true
	}
	return false
}

// Release ends the registration; the owner calls it before it closes the
// socket, and never parks the handle again.
func (h *Handle) Release() {
	if h.state.Swap(released) == parked {
		h.p.parked.Add(-1)
	}
	p := h.p
	h.arming.Lock()
	if h.added {
		_ = h.o.IdleSocket().Control(func(fd uintptr) {
			_ = p.ctl(unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	h.arming.Unlock()
	p.mu.Lock()
	if h.slot != noSlot {
		p.handles.remove(h.slot)
		h.slot = noSlot
	}
	h.due = 0
	p.mu.Unlock()
}

func (p *Poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	var tick int64
	for {
		// The read deadline of the epoll file is the next tick's, when
		// parked deadlines expire.
		if next := p.nextTick(); next != tick {
			tick = next
			_ = p.ep.SetReadDeadline(time.Unix(tick, 0))
		}
		var n int
		var werr error
		err := p.epc.Read(func(epfd uintptr) bool {
			for {
				n, werr = unix.EpollWait(int(epfd), events, 0)
				if werr != unix.EINTR {
					return n > 0 || werr != nil // none: wait until it is readable
				}
			}
		})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			n = 0
		case err != nil:
			return // Close
		case werr != nil:
			p.log.Error("idle poller stopped", "err", werr)
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			h := p.handles.get(uint32(ev.Fd), uint32(ev.Pad))
			p.mu.Unlock()
			if h != nil {
				h.Wake()
			}
		}
		p.expire(time.Now().Unix())
	}
}

// nextTick is the tick after the last one expired.
func (p *Poller) nextTick() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expired + 1
}

// expire wakes the parked handles whose deadline tick has come.
func (p *Poller) expire(now int64) {
	p.mu.Lock()
	var due []*Handle
	for ; p.expired < now; p.expired++ {
		tick := p.expired + 1
		for _, h := range p.timers[tick] {
			if int64(h.due) == tick {
				h.due = 0
				due = append(due, h)
			}
		}
		delete(p.timers, tick)
	}
	p.mu.Unlock()
	for _, h := range due {
		h.Wake()
	}
}

// InputWaiting reports whether the socket has bytes to read, or cannot
// tell: a connection may park before its first read only when it has none.
func InputWaiting(rc syscall.RawConn) bool {
	n, err := 0, error(nil)
	if cerr := rc.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); cerr != nil || err != nil {
		return true
	}
	return n > 0
}
