package idlepoll

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Socket is the socket a connection's bytes arrive on, for Register: nc
// itself, or the one under a TLS connection; nil where there is none (a
// pipe), and the connection keeps a goroutine waiting.
func Socket(nc net.Conn) syscall.RawConn {
	if tc, ok := nc.(*tls.Conn); ok {
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

// ReadAhead reads into p what a TLS connection already took from its
// socket (crypto/tls reads records ahead of its reader), so that a
// connection about to park does not sleep on input that is in memory and
// will never make its socket readable. It returns what it read, 0 and nil
// where nothing was buffered, or the error a read meets (the connection
// ended: do not park, read). Other connections buffer nothing: 0, nil.
//
// It moves nc's read deadline (to the past, then to none): the caller
// keeps anyone else from setting one meanwhile.
func ReadAhead(nc net.Conn, p []byte) (int, error) {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return 0, nil
	}
	_ = tc.SetReadDeadline(longAgo)
	n, err := tc.Read(p)
	_ = tc.SetReadDeadline(time.Time{})
	// A timeout is not kept by crypto/tls: the next read goes on.
	if n > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}
