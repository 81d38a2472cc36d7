//go:build linux

package sockconn

import "net"

// Wrapper is a connection that wraps another and lets it be replaced (an
// admitted connection, which must keep counting it): Own replaces the TCP
// socket under it.
type Wrapper interface {
	NetConn() net.Conn
	SetNetConn(net.Conn)
}

// Own returns nc with its TCP socket made a Conn (for a hijacked HTTP
// connection about to park): nc itself if it is a *net.TCPConn, or the
// socket under a Wrapper, which keeps being nc. Anything else (TLS, a
// pipe), or a socket that cannot be duplicated, is returned as it is.
// Nothing else may use nc meanwhile.
func Own(nc net.Conn) net.Conn {
	switch c := nc.(type) {
	case *net.TCPConn:
		if oc, err := FromTCP(c); err == nil {
			return oc
		}
	case Wrapper:
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			if oc, err := FromTCP(tc); err == nil {
				c.SetNetConn(oc)
			}
		}
	}
	return nc
}
