package idlepoll

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// tlsConn is a TLS connection over a socket: crypto/tls's, or tls13rec's
// (MQTT's TLS listener), which both read records ahead of their reader.
type tlsConn interface {
	NetConn() net.Conn
	ConnectionState() tls.ConnectionState
}

// Socket is the socket a connection's bytes arrive on, for Register: nc
// itself, or the one under a TLS connection (crypto/tls's or tls13rec's);
// nil where there is none (a pipe), and the connection keeps a goroutine
// waiting.
func Socket(nc net.Conn) syscall.RawConn {
	if tc, ok := nc.(tlsConn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// longAgo is a read deadline already past: a read then takes only what
// is buffered.
var longAgo = time.Unix(1, 0)

// BuffersInput reports whether nc may hold input it took from its socket
// ahead of its reader: a TLS connection, crypto/tls's or tls13rec's (both
// read records ahead). Such a connection must read what it holds
// (ReadAhead, or a read with a deadline in the past) before it parks.
func BuffersInput(nc net.Conn) bool {
	_, ok := nc.(tlsConn)
	return ok
}

// Parking tells nc that its connection parks, its input all read: a
// tls13rec connection gives back its ciphers and buffers until its next
// read or write (tls13rec.Conn.Park). Other connections have nothing to
// give back. The caller is nc's reader, between reads.
func Parking(nc net.Conn) {
	if p, ok := nc.(interface{ Park() }); ok {
		p.Park()
	}
}

// ReadAhead reads into p what a TLS connection already took from its
// socket (crypto/tls and tls13rec read records ahead of their reader), so
// that a connection about to park does not sleep on input that is in
// memory and will never make its socket readable. It returns what it
// read, 0 and nil where nothing was buffered, or the error a read meets
// (the connection ended: do not park, read). Other connections buffer
// nothing: 0, nil.
//
// It moves nc's read deadline (to the past, then to none): the caller
// keeps anyone else from setting one meanwhile.
func ReadAhead(nc net.Conn, p []byte) (int, error) {
	if !BuffersInput(nc) {
		return 0, nil
	}
	_ = nc.SetReadDeadline(longAgo)
	n, err := nc.Read(p)
	_ = nc.SetReadDeadline(time.Time{})
	// A timeout is not kept by either: the next read goes on.
	if n > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}
