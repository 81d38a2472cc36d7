//go:build !unix

package kit

import (
	"errors"
	"net"
	"syscall"
)

// RawSocket: elsewhere every connection is written by a goroutine that
// may block.
func RawSocket(net.Conn) syscall.RawConn { return nil }

// WriteNow is never called where RawSocket gives nothing.
func WriteNow(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
