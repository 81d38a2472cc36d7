//go:build unix

package kit

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// RawSocket is the socket under nc, for writes that must not wait, or nil
// where nc is not a plain socket (TLS, WebSocket): those connections are
// written by a goroutine that may block.
func RawSocket(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// WriteNow writes b to raw until it is all written or the socket's buffer
// is full, never parking the caller, and returns how much it wrote; the
// rest is for a writer that may wait. A write deadline bounds a write
// that waits, and a connection's lies wherever its last blocking write
// left it: one that has passed (an MQTT connection idle past its write
// timeout) leaves everything to the writer that may wait, which moves
// it, instead of failing the connection.
func WriteNow(raw syscall.RawConn, b []byte) (written int, err error) {
	ctlErr := raw.Write(func(fd uintptr) bool {
		for written < len(b) {
			n, werr := syscall.Write(int(fd), b[written:])
			switch {
			case werr == syscall.EINTR:
				continue
			case werr == syscall.EAGAIN:
				return true
			case werr != nil:
				err = werr
				return true
			}
			written += n
		}
		return true // done, or never wait: a writer goroutine does
	})
	if err == nil && !errors.Is(ctlErr, os.ErrDeadlineExceeded) {
		err = ctlErr
	}
	return written, err
}
