//go:build linux

package sockconn

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listener accepts connections as Conns, never making a netFD for them:
// accept4 on the listening socket, waiting for the next one in the
// runtime's netpoller. (A net.TCPListener's RawConn does not read, so the
// socket is waited for through a duplicate of it as an os.File, whose
// RawConn does.)
type Listener struct {
	*net.TCPListener
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

// Listen wraps a TCP listener; other listeners, or one whose socket
// cannot be duplicated, are returned as they are.
func Listen(ln net.Listener) net.Listener {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return ln
	}
	lrc, err := tl.SyscallConn()
	if err != nil {
		return ln
	}
	d := -1
	var derr error
	if cerr := lrc.Control(func(s uintptr) { d, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil || derr != nil {
		return ln
	}
	f := os.NewFile(uintptr(d), "sockconn-listener") // non-blocking: in the netpoller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return ln
	}
	return &Listener{TCPListener: tl, f: f, rc: rc}
}

// Close stops accepting; an Accept waiting returns net.ErrClosed.
func (l *Listener) Close() error {
	l.closed.Store(true)
	l.f.Close()
	return l.TCPListener.Close()
}

// Accept waits for the next connection. An error is net's for a closed
// listener (net.ErrClosed) or the system's (EMFILE), wrapped.
func (l *Listener) Accept() (net.Conn, error) {
	var fd int
	var sa unix.Sockaddr
	var aerr error
	err := l.rc.Read(func(s uintptr) bool {
		for {
			fd, sa, aerr = unix.Accept4(int(s), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			switch aerr {
			case unix.EINTR, unix.ECONNABORTED:
				continue // a connection reset while queued: the next one
			case unix.EAGAIN:
				return false
			}
			return true
		}
	})
	if l.closed.Load() {
		if err == nil && aerr == nil {
			unix.Close(fd)
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	if err == nil && aerr != nil {
		err = os.NewSyscallError("accept4", aerr)
	}
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: err}
	}
	if err := tune(fd); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: fmt.Errorf("sockconn: %w", err)}
	}
	return New(fd, sockaddrAddrPort(sa)), nil
}

// tune sets what net sets on the connections it accepts: no Nagle delay,
// TCP keep-alive probes after 15 s idle, every 15 s, 9 of them.
func tune(fd int) error {
	for _, o := range [...]struct{ level, name, v int }{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.v); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	return nil
}
