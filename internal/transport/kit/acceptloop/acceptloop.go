// Package acceptloop accepts connections on the listeners streamhub serves
// itself (MQTT, raw TCP, RTMP) and admits them (Admission), also on
// listeners whose loop is net/http's or a library's (HTTP, RTSP). A failed
// accept is retried with a backoff rather than ending the listener:
// running out of file descriptors is a passing state, and a listener that
// quit on it would stay dead after it passed.
package acceptloop

import (
	"errors"
	"net"
	"syscall"
	"time"

	"streamhub/internal/ratelog"
)

// Backoff bounds, as net/http's Server uses for temporary accept errors.
const (
	firstDelay = 5 * time.Millisecond
	maxDelay   = time.Second
)

// Run accepts connections on ln and hands each to handle (which must not
// block) until ln is closed.
func Run(ln net.Listener, log *ratelog.Logger, transport string, handle func(net.Conn)) {
	for {
		nc, err := accept(ln, log, transport)
		if err != nil {
			return
		}
		handle(nc)
	}
}

// accept is ln.Accept retried with a backoff until it succeeds or ln is
// closed.
func accept(ln net.Listener, log *ratelog.Logger, transport string) (net.Conn, error) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) {
			return nc, err
		}
		Failed(log, transport, ln.Addr(), err)
		delay = min(max(2*delay, firstDelay), maxDelay)
		time.Sleep(delay)
	}
}

// Failed logs an accept error at error level, rate-limited, naming the
// remedy when the process is out of file descriptors.
func Failed(log *ratelog.Logger, transport string, addr net.Addr, err error) {
	if OutOfFiles(err) {
		log.Error("cannot accept connections: out of file descriptors; raise the limit (ulimit -n) or lower limits.connections",
			"transport", transport, "addr", addr.String(), "err", err)
		return
	}
	log.Error("accept failed; retrying", "transport", transport, "addr", addr.String(), "err", err)
}

// OutOfFiles reports whether err means the process or system has no file
// descriptor left.
func OutOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
