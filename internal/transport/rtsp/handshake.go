package rtsp

import (
	"bytes"
	"net"
	"sync"
	"time"
)

// headerEnd ends an RTSP (and HTTP, for tunnels) request header; gortsplib
// accepts no other line ending.
var headerEnd = []byte("\r\n\r\n")

// handshakeListener bounds the handshake phase of every accepted
// connection: until the first complete request header has arrived, no read
// deadline later than limit after accept holds. gortsplib only knows one
// idle timeout (60 s) for both a silent new connection and a player between
// requests; this refuses garbage or half-sent request lines fast without
// shortening a session's timeout.
type handshakeListener struct {
	net.Listener
	limit time.Duration
}

func (l handshakeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &handshakeConn{Conn: c, bound: time.Now().Add(l.limit)}
	if err := c.SetReadDeadline(hc.bound); err != nil {
		c.Close()
		return nil, err
	}
	return hc, nil
}

// handshakeConn clamps read deadlines to bound until it has read a
// complete request header, then hands deadlines through unchanged.
type handshakeConn struct {
	net.Conn
	bound time.Time // the first request header must be in by then

	mu     sync.Mutex // guards the fields below: gortsplib may set deadlines from its writer
	done   bool
	wanted time.Time // the read deadline gortsplib last asked for
	tail   []byte    // the last bytes read, for a header end split across reads
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.scan(p[:n])
	}
	return n, err
}

// scan looks for the end of the first request header; once found, the
// deadline gortsplib asked for takes over.
func (c *handshakeConn) scan(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	window := append(c.tail, b...)
	if !bytes.Contains(window, headerEnd) {
		c.tail = append(c.tail[:0], window[max(0, len(window)-len(headerEnd)+1):]...)
		return
	}
	c.done, c.tail = true, nil
	c.Conn.SetReadDeadline(c.wanted) //nolint:errcheck // a failure shows on the next read
}

func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wanted = t
	if !c.done && (t.IsZero() || t.After(c.bound)) {
		t = c.bound
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *handshakeConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}
