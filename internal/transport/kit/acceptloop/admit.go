package acceptloop

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"streamhub/internal/limit"
	"streamhub/internal/ratelog"
	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/kit"
)

// RefuseWait bounds the time a refused connection is given to be told why
// (its TLS handshake included): each refusal holds a goroutine and its
// socket for at most this long.
const RefuseWait = time.Second

// Admission is the one admission every listener's connections go through,
// whoever runs its accept loop (ours, net/http's or a library's): the
// allowed networks, a slot of limits.connections and limits.peraddress, a
// count in streamhub_connections{transport}, accept errors retried with a
// backoff instead of handed to a loop that would end on them, and the
// publish rate each admitted connection gets.
// Sessions without a socket of their own (an HTTP/2 stream, a WebRTC peer
// connection) take their slot from the same limits with Acquire.
//
// The server builds one per transport from its one set of limits and
// metrics; a zero Admission admits everything, counts nothing and logs
// nothing, for a transport run on its own (tests).
type Admission struct {
	Transport string
	Conns     *limit.Conns // nil: no limits
	Meter     kit.Meter    // nil: not counted; told of refusals if it implements Refusals
	// Rate is the publish rate of each admitted connection or session
	// (limits.rate): its transport takes a limiter, Rate.Limiter(), where
	// it reads publishes.
	Rate limit.Rate
	Log  *ratelog.Logger
	// Allowed, when set, admits only the addresses it accepts (tcp.networks);
	// others are closed at once, without taking a slot.
	Allowed func(net.Addr) bool
	// Refuse answers a connection over the limits in its protocol's way
	// and returns; the admission closes it afterwards. It runs on a
	// goroutine of its own, with the connection's deadline RefuseWait
	// away. nil just closes it (RTMP has nothing to say before its
	// handshake, a raw output's peer reads only messages).
	Refuse func(nc net.Conn, err error)
	// TLS, when set, is the TLS the listener runs above the admission:
	// Refuse gets the connection after the TLS handshake, so that it can
	// answer in the protocol's own words.
	TLS *tls.Config
	// Answering, when set, bounds the refusals being answered at once,
	// over every listener sharing it: past its capacity a refused
	// connection is just closed, so that a flood over the limits costs no
	// more than the limits allow.
	Answering chan struct{}
}

// Listener wraps ln: its Accept returns only admitted connections, and an
// error only once ln is closed. An admitted connection gives its slot back
// when closed.
func (a Admission) Listener(ln net.Listener) net.Listener {
	return &admitted{Listener: ln, a: a}
}

// Acquire admits a session that has no socket of its own: a slot of the
// limits, refusals logged. It does not count the session: its transport
// does, where it knows the session lives.
func (a Admission) Acquire(remote string) (release func(), err error) {
	release, err = a.Conns.Acquire(remote)
	if err != nil {
		a.refused(remote, err)
	}
	return release, err
}

// Refusals counts refused connections by the limit they met; a Meter
// that implements it (*metrics.Transport) is told of every refusal.
type Refusals interface {
	Refused(reason string)
}

// Reasons of a refusal, as Refusals is told them: the configuration key
// of the limit met.
const (
	ReasonConnections = "connections" // limits.connections
	ReasonPerAddress  = "peraddress"  // limits.peraddress
	ReasonNetworks    = "networks"    // tcp.networks
)

// refused logs and counts a refusal.
func (a Admission) refused(remote string, err error) {
	reason := ReasonPerAddress
	switch {
	case errors.Is(err, errOutsideNetworks):
		reason = ReasonNetworks
	case errors.Is(err, limit.ErrTooManyConnections):
		reason = ReasonConnections
	}
	if r, ok := a.Meter.(Refusals); ok {
		r.Refused(reason)
	}
	a.log().Info("connection refused", "transport", a.Transport, "remote", remote, "err", err)
}

// errOutsideNetworks refuses an address Allowed does not accept.
var errOutsideNetworks = errors.New("client address outside the allowed networks")

// discard is the log of an Admission without one.
var discard = ratelog.New(slog.New(slog.DiscardHandler), time.Hour, 1)

func (a Admission) log() *ratelog.Logger {
	if a.Log == nil {
		return discard
	}
	return a.Log
}

type admitted struct {
	net.Listener
	a Admission
}

func (l *admitted) Accept() (net.Conn, error) {
	for {
		nc, err := accept(l.Listener, l.a.log(), l.a.Transport)
		if err != nil {
			return nil, err
		}
		if c, ok := l.admit(nc); ok {
			return c, nil
		}
	}
}

// admit takes a slot for nc, or refuses it.
func (l *admitted) admit(nc net.Conn) (net.Conn, bool) {
	a := &l.a
	remote := nc.RemoteAddr().String()
	if a.Allowed != nil && !a.Allowed(nc.RemoteAddr()) {
		a.refused(remote, errOutsideNetworks)
		nc.Close()
		return nil, false
	}
	release, err := a.Conns.Acquire(remote)
	if err != nil {
		a.refused(remote, err)
		if a.Refuse != nil && a.answering() {
			go a.refuse(nc, err)
		} else {
			nc.Close()
		}
		return nil, false
	}
	c := &admittedConn{Conn: nc, release: release, a: a}
	if a.Meter != nil {
		c.disconnected = a.Meter.Connected()
	}
	a.log().Log(slog.LevelDebug, "connection opened", "transport", a.Transport, "remote", remote)
	return c, true
}

// answering takes a place among the refusals answered at once, if one is
// free; refuse gives it back.
func (a Admission) answering() bool {
	if a.Answering == nil {
		return true
	}
	select {
	case a.Answering <- struct{}{}:
		return true
	default:
		return false
	}
}

// refuse tells nc why it is refused (Refuse), within RefuseWait, and
// closes it.
func (a Admission) refuse(nc net.Conn, err error) {
	if a.Answering != nil {
		defer func() { <-a.Answering }()
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(RefuseWait))
	if a.TLS != nil {
		tc := tlsconf.Server(nc, a.TLS)
		if tc.Handshake() != nil {
			return
		}
		defer tc.Close()
		nc = tc
	}
	a.Refuse(nc, err)
	lingerClose(nc)
}

// lingerClose ends the sending side and reads what the client still sends
// until it closes or the deadline passes: closing with input unread would
// reset the connection, and the client's system would drop the answer it
// had not read yet.
func lingerClose(nc net.Conn) {
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_, _ = io.Copy(io.Discard, nc)
}

// admittedConn gives its slot back once, when closed (by its server, or by
// a handler that took it over). Every idle connection holds one, so it is
// kept small: its listener's Admission by pointer rather than copied into a
// closure, the remote address read again only to log the close, and a flag
// rather than a sync.Once (48 bytes instead of 64).
type admittedConn struct {
	net.Conn
	closing      atomic.Bool
	release      func()
	disconnected func() // nil: not counted
	a            *Admission
}

func (c *admittedConn) Close() error {
	if c.closing.CompareAndSwap(false, true) {
		c.closed()
	}
	return c.Conn.Close()
}

func (c *admittedConn) closed() {
	c.release()
	if c.disconnected != nil {
		c.disconnected()
	}
	if log := c.a.log(); log.Enabled(slog.LevelDebug) {
		log.Log(slog.LevelDebug, "connection closed", "transport", c.a.Transport, "remote", c.Conn.RemoteAddr().String())
	}
}

// CloseWrite is the socket's, so that a connection can end its side and
// read on until its peer goes (MQTT's DISCONNECT, net/http's close): its
// last words are then not lost to a reset.
func (c *admittedConn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.ErrUnsupported
	}
	return cw.CloseWrite()
}

// NetConn is the connection admitted, and SetNetConn replaces it by
// another over the same socket (sockconn.Own, on a hijacked connection
// that nothing else uses).
func (c *admittedConn) NetConn() net.Conn      { return c.Conn }
func (c *admittedConn) SetNetConn(nc net.Conn) { c.Conn = nc }

// SyscallConn is the socket's, so that a connection taken over from its
// server can still be written without blocking (kit.RawSocket).
func (c *admittedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
