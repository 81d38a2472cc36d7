package rtsp

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// headerEnd ends an RTSP (and HTTP, for tunnels) request header; gortsplib
// accepts no other line ending.
var headerEnd = []byte("\r\n\r\n")

// handshakeListener bounds the handshake phase of every accepted
// connection: until the first request is complete (header, and the body its
// Content-Length announces), no read deadline later than limit after accept
// holds. gortsplib knows one idle timeout (60 s) for a silent new
// connection, a half-sent request and a player between requests alike; this
// refuses garbage or half-sent requests fast without shortening a session's
// timeout.
type handshakeListener struct {
	net.Listener
	limit time.Duration
}

func (l handshakeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		hc := &handshakeConn{Conn: c, bound: time.Now().Add(l.limit), body: -1}
		if err := c.SetReadDeadline(hc.bound); err != nil {
			c.Close() // gone already; an error here would end gortsplib's accept loop
			continue
		}
		return hc, nil
	}
}

// handshakeConn clamps read deadlines to bound until it has read a
// complete first request (header and body), then hands deadlines through
// unchanged.
type handshakeConn struct {
	net.Conn
	bound time.Time // the first request header must be in by then

	mu     sync.Mutex // guards the fields below: gortsplib may set deadlines from its writer
	done   bool
	wanted time.Time // the read deadline gortsplib last asked for
	head   []byte    // the first request so far, until its header end
	body   int       // body bytes still due once the header is in, -1 before

	tunnel tunnelFilter // only Read touches it
}

// NetConn is the connection handshakeConn wraps (a *tls.Conn over RTSPS),
// for tlsconf.ConnUser.
func (c *handshakeConn) NetConn() net.Conn { return c.Conn }

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if refused := c.tunnel.check(p[:n]); refused != nil {
			refuseTunnel(c.Conn, refused)
			return 0, refused
		}
		c.scan(p[:n])
	}
	return n, err
}

// scan follows the first request: its header up to the blank line, then
// Content-Length bytes of body; once all of it is in, the deadline
// gortsplib asked for takes over.
func (c *handshakeConn) scan(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	if c.body < 0 {
		b = c.scanHeader(b)
		if c.body < 0 {
			return
		}
		c.head = nil
	}
	c.body -= len(b)
	if c.body <= 0 {
		c.done, c.head = true, nil
		c.Conn.SetReadDeadline(c.wanted) //nolint:errcheck // a failure shows on the next read
	}
}

// scanHeader adds b to the header so far; at the header end it sets body
// to the Content-Length and returns the bytes after the header.
func (c *handshakeConn) scanHeader(b []byte) []byte {
	c.head = append(c.head, b...)
	i := bytes.Index(c.head, headerEnd)
	if i < 0 {
		if len(c.head) > maxHandshakeHeader {
			// gortsplib refuses a header this long; only a header end split
			// across reads still matters.
			c.head = append(c.head[:0], c.head[len(c.head)-len(headerEnd)+1:]...)
		}
		return nil
	}
	c.body = contentLength(c.head[:i])
	return c.head[i+len(headerEnd):]
}

// maxHandshakeHeader bounds what scanHeader keeps of a header.
const maxHandshakeHeader = 64 << 10

// contentLength is the Content-Length of a request header, 0 when absent
// or unreadable (gortsplib then refuses the request itself).
func contentLength(header []byte) int {
	for line := range bytes.SplitSeq(header, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(string(bytes.TrimSpace(name)), "Content-Length") {
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	return 0
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
