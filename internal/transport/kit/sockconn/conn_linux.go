//go:build linux

package sockconn

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a TCP connection on a descriptor of ours. Any number of
// goroutines may call its methods at once; Writes are serialized as net's
// are. Its size matters (one per idle connection): 80 bytes.
type Conn struct {
	// mu guards the fields below it. Lock order: wmu, then mu.
	wmu sync.Mutex
	mu  sync.Mutex
	fd  int32
	// refs counts goroutines inside a syscall on fd (their own or a
	// RawConn's function): Close leaves the descriptor to the last of
	// them, so that its number is never reused under one.
	refs int32
	// stdUses counts calls under way on std: Demote leaves it to them.
	stdUses int32
	// rport is the peer's port, beside the small fields: its address and
	// port as one netip.AddrPort would take 8 B more (the 96 B size
	// class instead of 80).
	rport  uint16
	closed bool
	std    *net.TCPConn // promoted: a duplicate of fd in the netpoller; nil while demoted
	// rdl and wdl are the deadlines, Unix nanoseconds, 0 for none.
	rdl, wdl int64
	raddr    netip.Addr
}

// New makes a Conn of fd, a connected, non-blocking TCP socket, which it
// owns from now on.
func New(fd int, remote netip.AddrPort) *Conn {
	return &Conn{fd: int32(fd), raddr: remote.Addr(), rport: remote.Port()}
}

// FromTCP makes a Conn of tc's socket (a duplicate of its descriptor) and
// closes tc; on an error tc is left as it was. Nothing may use tc
// meanwhile (a hijacked connection's new owner calls it).
func FromTCP(tc *net.TCPConn) (*Conn, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("sockconn: %w", err)
	}
	fd := -1
	var derr error
	if cerr := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		derr = cerr
	}
	if derr != nil {
		return nil, fmt.Errorf("sockconn: dup: %w", derr)
	}
	var remote netip.AddrPort
	if ra, ok := tc.RemoteAddr().(*net.TCPAddr); ok {
		remote = unmapped(ra.AddrPort())
	}
	tc.Close()                     // the socket stays open on fd
	_ = unix.SetNonblock(fd, true) // shared with tc's, which was: a no-op
	return New(fd, remote), nil
}

// unmapped gives an IPv4 peer on a dual-stack socket its IPv4 form, as net
// shows it.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Demote closes the promoted duplicate, if nothing is using it: an idle
// connection then holds its descriptor alone. Best effort: with a call
// under way (a writer waiting on a full socket) it stays promoted.
func (c *Conn) Demote() {
	c.mu.Lock()
	std := c.std
	if std == nil || c.stdUses > 0 {
		c.mu.Unlock()
		return
	}
	c.std = nil
	c.mu.Unlock()
	std.Close()
}

// Promoted reports whether the Conn holds a standard net.TCPConn now.
func (c *Conn) Promoted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.std != nil
}

// begin starts a call: it returns std to use (promoted), or fd to make
// the syscall on with a use counted (demoted). dl, if not nil, is the
// deadline that bounds the call.
func (c *Conn) begin(dl *int64) (std *net.TCPConn, fd int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.std != nil { // never once closed: Close drops it
		c.stdUses++
		return c.std, -1, nil
	}
	fd, err = c.useFDLocked(dl)
	return nil, fd, err
}

// beginRaw is begin for a RawConn: always on our descriptor.
func (c *Conn) beginRaw(dl *int64) (fd int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.useFDLocked(dl)
}

// useFDLocked counts a use of fd for a call bounded by dl (nil: none).
func (c *Conn) useFDLocked(dl *int64) (int, error) {
	if c.closed {
		return -1, net.ErrClosed
	}
	if dl != nil && *dl != 0 && time.Now().UnixNano() >= *dl {
		return -1, os.ErrDeadlineExceeded
	}
	c.refs++
	return int(c.fd), nil
}

// end ends a demoted call's use of fd. With wait set, the call must wait:
// it returns the promoted conn to go on with (a use counted).
func (c *Conn) end(wait bool) (*net.TCPConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs--
	if c.closed {
		c.closeFDLocked()
		return nil, net.ErrClosed
	}
	if !wait {
		return nil, nil
	}
	if c.std == nil {
		if err := c.promoteLocked(); err != nil {
			return nil, err
		}
	}
	c.stdUses++
	return c.std, nil
}

// endStd ends a call on the promoted conn.
func (c *Conn) endStd() {
	c.mu.Lock()
	c.stdUses--
	c.mu.Unlock()
}

// promoteLocked makes the standard conn: net.FileConn duplicates the
// descriptor and registers the duplicate with the netpoller. (Through a
// duplicate of our own, so that closing the os.File leaves fd open.)
func (c *Conn) promoteLocked() error {
	d, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sockconn: promote: %w", err)
	}
	f := os.NewFile(uintptr(d), "sockconn")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("sockconn: promote: %w", err)
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return fmt.Errorf("sockconn: promote: not a TCP socket")
	}
	if c.rdl != 0 {
		_ = tc.SetReadDeadline(time.Unix(0, c.rdl))
	}
	if c.wdl != 0 {
		_ = tc.SetWriteDeadline(time.Unix(0, c.wdl))
	}
	c.std = tc
	return nil
}

// closeFDLocked closes fd once nobody is inside a syscall on it.
func (c *Conn) closeFDLocked() {
	if c.refs == 0 && c.fd >= 0 {
		unix.Close(int(c.fd))
		c.fd = -1
	}
}

// Read reads what the socket has, or waits for it promoted.
func (c *Conn) Read(b []byte) (int, error) {
	std, fd, err := c.begin(&c.rdl)
	if err != nil {
		return 0, c.opErr("read", err)
	}
	if std == nil {
		if len(b) == 0 {
			_, err := c.end(false)
			return 0, c.opErr("read", err)
		}
		n, errno := recv(fd, b)
		wait := errno == unix.EAGAIN
		std, err = c.end(wait)
		switch {
		case n > 0:
			return n, nil
		case err != nil:
			return 0, c.opErr("read", err)
		case errno == 0:
			return 0, io.EOF
		case !wait:
			return 0, c.opErr("read", os.NewSyscallError("read", errno))
		}
	}
	n, err := std.Read(b)
	c.endStd()
	return n, err
}

// Write writes b while the socket takes it, the rest promoted.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	std, fd, err := c.begin(&c.wdl)
	if err != nil {
		return 0, c.opErr("write", err)
	}
	written := 0
	if std == nil {
		var errno syscall.Errno
		for written < len(b) {
			var n int
			n, errno = send(fd, b[written:])
			if errno != 0 {
				break
			}
			written += n
		}
		wait := errno == unix.EAGAIN
		std, err = c.end(wait)
		switch {
		case err != nil:
			return written, c.opErr("write", err)
		case errno != 0 && !wait:
			return written, c.opErr("write", os.NewSyscallError("write", errno))
		case !wait:
			return written, nil
		}
	}
	n, err := std.Write(b[written:])
	c.endStd()
	return written + n, err
}

func recv(fd int, b []byte) (int, syscall.Errno) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT, 0, 0)
		if errno != unix.EINTR {
			return int(n), errno
		}
	}
}

// send never waits (MSG_DONTWAIT, whatever the descriptor's flags) and
// never raises SIGPIPE.
func send(fd int, b []byte) (int, syscall.Errno) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if errno != unix.EINTR {
			return int(n), errno
		}
	}
}

// Close closes the socket: the promoted conn at once (a call waiting in it
// returns), the descriptor once no syscall is using it.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	std := c.std
	c.std = nil
	c.closeFDLocked()
	c.mu.Unlock()
	if std != nil {
		std.Close()
	}
	return nil
}

// CloseWrite shuts the sending side down (the peer reads EOF).
func (c *Conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

// CloseRead shuts the receiving side down.
func (c *Conn) CloseRead() error { return c.shutdown(unix.SHUT_RD) }

func (c *Conn) shutdown(how int) error {
	fd, err := c.beginRaw(nil)
	if err != nil {
		return c.opErr("shutdown", err)
	}
	serr := unix.Shutdown(fd, how)
	_, err = c.end(false)
	if serr != nil {
		err = os.NewSyscallError("shutdown", serr)
	}
	return c.opErr("shutdown", err)
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	return c.setDeadline(t, true, true)
}

// SetReadDeadline bounds Reads, the one waiting now included.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, true, false) }

// SetWriteDeadline bounds Writes, the one waiting now included.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

func (c *Conn) setDeadline(t time.Time, read, write bool) error {
	var ns int64
	if !t.IsZero() {
		ns = max(t.UnixNano(), 1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opErr("set deadline", net.ErrClosed)
	}
	if read {
		c.rdl = ns
	}
	if write {
		c.wdl = ns
	}
	if c.std != nil {
		switch {
		case read && write:
			return c.std.SetDeadline(t)
		case read:
			return c.std.SetReadDeadline(t)
		default:
			return c.std.SetWriteDeadline(t)
		}
	}
	return nil
}

// RemoteAddr is the peer's address (made on each call).
func (c *Conn) RemoteAddr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.raddr, c.rport))
}

// LocalAddr is the socket's own address (asked of the system on each
// call); nil once closed.
func (c *Conn) LocalAddr() net.Addr {
	fd, err := c.beginRaw(nil)
	if err != nil {
		return nil
	}
	sa, serr := unix.Getsockname(fd)
	c.end(false)
	if serr != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(sockaddrAddrPort(sa))
}

// sockaddrAddrPort is sa as an address and port; zero for other families.
func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return unmapped(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)))
	}
	return netip.AddrPort{}
}

// opErr wraps err as net does (nil stays nil).
func (c *Conn) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Addr: c.RemoteAddr(), Err: err}
}

// SyscallConn gives the socket's descriptor to functions that make
// syscalls on it (non-blocking writes, idlepoll's registration): always
// this Conn's own descriptor, promoted or not, except for a function that
// asks to wait, which goes on in the promoted conn's.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return (*rawConn)(c), nil }

type rawConn Conn

// Control runs f on the descriptor, which stays open meanwhile.
func (r *rawConn) Control(f func(fd uintptr)) error {
	c := (*Conn)(r)
	fd, err := c.beginRaw(nil)
	if err != nil {
		return err
	}
	f(uintptr(fd))
	_, err = c.end(false)
	return err
}

// Read runs f until it reports done, waiting for input promoted.
func (r *rawConn) Read(f func(fd uintptr) bool) error {
	c := (*Conn)(r)
	return c.rawIO(&c.rdl, f, func(rc syscall.RawConn) error { return rc.Read(f) })
}

// Write runs f until it reports done, waiting for room promoted.
func (r *rawConn) Write(f func(fd uintptr) bool) error {
	c := (*Conn)(r)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.rawIO(&c.wdl, f, func(rc syscall.RawConn) error { return rc.Write(f) })
}

// Demote is the Conn's, for idlepoll: a parked connection demotes.
func (r *rawConn) Demote() { (*Conn)(r).Demote() }

func (c *Conn) rawIO(dl *int64, f func(fd uintptr) bool, wait func(syscall.RawConn) error) error {
	fd, err := c.beginRaw(dl)
	if err != nil {
		return err
	}
	done := f(uintptr(fd))
	std, err := c.end(!done)
	if done || err != nil {
		return err
	}
	defer c.endStd()
	rc, err := std.SyscallConn()
	if err != nil {
		return err
	}
	return wait(rc)
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ syscall.Conn = (*Conn)(nil)
)
