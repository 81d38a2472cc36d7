package wsconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gobwas/ws"
)

// NetConn carries a byte stream in binary messages, so that a codec written
// for a socket (MQTT's) runs over a WebSocket unchanged: each Write is one
// binary frame, and Read returns the messages' bytes back to back, so a
// packet may span frames and a frame may hold several packets. Pings and the
// close handshake are answered while reading. Deadlines are the socket's:
// the codec sets them as it does on TCP.
//
// As a net.Conn, it allows one reader and any number of writers at a time.
type NetConn struct {
	c *Conn
	// TLS is the state of the HTTPS request the socket arrived on (nil over
	// plain HTTP): its client certificate identifies the client.
	TLS *tls.ConnectionState

	rest []byte // what Read has yet to return of the current message
}

// NetConn returns c as a byte stream; tlsState is the request's TLS state.
// c's write timeout should be zero: the stream's user sets the deadlines.
func (c *Conn) NetConn(tlsState *tls.ConnectionState) *NetConn {
	return &NetConn{c: c, TLS: tlsState}
}

// errNotBinary ends a stream whose peer sent a text message.
var errNotBinary = errors.New("websocket: a byte stream takes binary messages only")

// Read returns bytes of the current binary message, reading the next one
// when it is used up. The peer's close gives io.EOF.
func (n *NetConn) Read(p []byte) (int, error) {
	for len(n.rest) == 0 {
		// Waiting for the next message holds no read buffer: the reader of
		// an idle connection waits here.
		if err := n.c.waitInput(); err != nil {
			return 0, err
		}
		op, msg, err := n.c.Read()
		if errors.Is(err, ErrClosed) {
			return 0, io.EOF
		}
		if err != nil {
			return 0, err
		}
		if op != ws.OpBinary {
			n.c.Close(ws.StatusUnsupportedData, "binary messages only")
			return 0, errNotBinary
		}
		n.rest = msg
	}
	k := copy(p, n.rest)
	n.rest = n.rest[k:]
	if len(n.rest) == 0 {
		n.rest = nil // an empty rest still held the message's array
	}
	return k, nil
}

// Socket is the socket the stream's frames arrive on (under TLS, if
// any), for an idle poller (idlepoll.Socket).
func (n *NetConn) Socket() net.Conn { return n.c.nc }

// Drained reports whether the stream has nothing left in memory to read:
// no rest of a message, no frame bytes buffered, no byte a wait read and,
// over TLS, no record read ahead (taken now if there is one: then it is
// not drained). It gives the read buffer back. A drained stream's next
// input can only come from its socket, which may then be parked. Over TLS
// it moves the socket's read deadline (to none): the caller sets it again.
func (n *NetConn) Drained() bool {
	if len(n.rest) > 0 || n.c.inputReady() {
		return false
	}
	n.c.returnReader()
	return !n.c.readAhead()
}

// Write sends p as one binary frame.
func (n *NetConn) Write(p []byte) (int, error) {
	if err := n.c.WriteFrame(ws.OpBinary, p); err != nil {
		return 0, fmt.Errorf("websocket write: %w", err)
	}
	return len(p), nil
}

// Close sends a normal close frame (bounded by closeWait) and closes the
// socket: the stream's user has nothing more to say or to hear.
func (n *NetConn) Close() error {
	n.c.nc.SetWriteDeadline(time.Now().Add(closeWait))
	n.c.Close(ws.StatusNormalClosure, "")
	return n.c.nc.Close()
}

func (n *NetConn) LocalAddr() net.Addr                { return n.c.nc.LocalAddr() }
func (n *NetConn) RemoteAddr() net.Addr               { return n.c.nc.RemoteAddr() }
func (n *NetConn) SetDeadline(t time.Time) error      { return n.c.nc.SetDeadline(t) }
func (n *NetConn) SetReadDeadline(t time.Time) error  { return n.c.nc.SetReadDeadline(t) }
func (n *NetConn) SetWriteDeadline(t time.Time) error { return n.c.nc.SetWriteDeadline(t) }
