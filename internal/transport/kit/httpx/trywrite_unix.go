//go:build unix

package httpx

import (
	"errors"
	"net"
	"syscall"
)

// tryWriter returns a write that sends what the socket under nc takes at
// once, with one non-blocking write(2) that never parks the caller (the
// callback reports done even on EAGAIN), or nil where nc is not a plain
// socket (TLS): its writer then always runs on a goroutine of its own.
func tryWriter(nc net.Conn) func(b []byte) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(b []byte) (int, error) {
		var n int
		var werr error
		if err := raw.Write(func(fd uintptr) bool {
			n, werr = syscall.Write(int(fd), b)
			return true
		}); err != nil {
			return 0, err
		}
		if n < 0 {
			n = 0
		}
		if errors.Is(werr, syscall.EAGAIN) || errors.Is(werr, syscall.EINTR) {
			werr = nil // full for now: the writer goroutine waits for room
		}
		return n, werr
	}
}
