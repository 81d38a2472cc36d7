package rtmp

import (
	"net"
)

// readSize is how much guardConn asks the socket for at once; its buffer
// grows as bytes arrive, never ahead of them.
const readSize = 4 << 10

// guardConn is the client's connection as gortmplib reads it: the
// handshake passes through, then only whole chunks the guard let past.
// It is read by one goroutine (the connection's); writes and deadlines
// go to the socket.
type guardConn struct {
	net.Conn
	guard     *chunkGuard
	handshake int    // handshake bytes still to pass through
	buf       []byte // read from the socket, not yet handed on
	head      int    // buf[head:] is still to hand on
	ready     int    // buf[head:head+ready] are whole chunks
	err       error  // sticky: the socket failed or the budget ran out
}

func newGuardConn(c net.Conn, g *chunkGuard) *guardConn {
	return &guardConn{Conn: c, guard: g, handshake: handshakeSize}
}

func (c *guardConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.handshake > 0 {
		n, err := c.Conn.Read(p[:min(len(p), c.handshake)])
		if n > 0 && c.handshake == handshakeSize && p[0] == 6 {
			return 0, errEncrypted // its chunks could not be followed
		}
		c.handshake -= n
		return n, err
	}
	for c.ready == 0 {
		n, err := c.guard.chunk(c.buf[c.head:])
		if err != nil {
			return 0, err // the guard's state is unchanged: it refuses again
		}
		if n > 0 {
			c.ready = n
			break
		}
		if c.err != nil {
			return 0, c.err
		}
		c.err = c.fill()
	}
	n := copy(p, c.buf[c.head:c.head+c.ready])
	c.head += n
	c.ready -= n
	return n, nil
}

// fill reads what the socket has into buf, charging it to the budget.
// Compacting first keeps buf within twice the bytes of a chunk.
func (c *guardConn) fill() error {
	pending := c.buf[c.head:]
	if c.head > 0 || cap(c.buf)-len(c.buf) < readSize {
		size := len(pending) + readSize
		if cap(c.buf) < size || cap(c.buf) > 4*size {
			c.buf = make([]byte, len(pending), max(size, 2*len(pending)))
		} else {
			c.buf = c.buf[:len(pending)]
		}
		copy(c.buf, pending)
		c.head = 0
	}
	n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	if n > 0 {
		if berr := c.guard.received(n); berr != nil {
			return berr
		}
	}
	return err
}
