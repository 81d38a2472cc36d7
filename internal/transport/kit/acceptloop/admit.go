package acceptloop

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"streamhub/internal/limit"
	"streamhub/internal/ratelog"
	"streamhub/internal/transport/kit"
)

// Admission is the one admission every listener's connections go through,
// whoever runs its accept loop (ours, net/http's or a library's): a slot of
// limits.connections and limits.peraddress, a count in
// streamhub_connections{transport}, and accept errors retried with a
// backoff instead of handed to a loop that would end on them.
type Admission struct {
	Transport string
	Conns     *limit.Conns // nil: no limits
	Meter     kit.Meter    // nil: not counted
	Log       *ratelog.Logger
	// Refuse answers a connection over the limits in its protocol's way,
	// on a goroutine of its own, and closes it; nil just closes it (RTMP
	// and RTSP have nothing to say before their handshakes).
	Refuse func(nc net.Conn, err error)
}

// Listener wraps ln: its Accept returns only admitted connections, and an
// error only once ln is closed. An admitted connection gives its slot back
// when closed.
func (a Admission) Listener(ln net.Listener) net.Listener {
	return &admitted{Listener: ln, a: a}
}

type admitted struct {
	net.Listener
	a Admission
}

func (l *admitted) Accept() (net.Conn, error) {
	for {
		nc, err := accept(l.Listener, l.a.Log, l.a.Transport)
		if err != nil {
			return nil, err
		}
		if c, ok := l.a.admit(nc); ok {
			return c, nil
		}
	}
}

// admit takes a slot for nc, or refuses it.
func (a Admission) admit(nc net.Conn) (net.Conn, bool) {
	remote := nc.RemoteAddr().String()
	release, err := a.Conns.Acquire(remote)
	if err != nil {
		a.Log.Info("connection refused", "transport", a.Transport, "remote", remote, "err", err)
		if a.Refuse != nil {
			go a.Refuse(nc, err)
		} else {
			nc.Close()
		}
		return nil, false
	}
	disconnected := func() {}
	if a.Meter != nil {
		disconnected = a.Meter.Connected()
	}
	a.Log.Log(slog.LevelDebug, "connection opened", "transport", a.Transport, "remote", remote)
	return &admittedConn{Conn: nc, release: func() {
		release()
		disconnected()
		a.Log.Log(slog.LevelDebug, "connection closed", "transport", a.Transport, "remote", remote)
	}}, true
}

// admittedConn gives its slot back once, when closed (by its server, or by
// a handler that took it over).
type admittedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *admittedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// SyscallConn is the socket's, so that a connection taken over from its
// server can still be written without blocking (kit.RawSocket).
func (c *admittedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
