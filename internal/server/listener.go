package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"streamhub/internal/limit"
	"streamhub/internal/ratelog"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/kit/httpx"
)

// countedListener is the HTTP listener's socket, below TLS: it counts every
// connection, keep-alive ones included, against limits.connections and
// limits.peraddress (as the MQTT and TCP listeners do theirs) and in
// streamhub_connections{transport="http"}, refuses those over the limits,
// and says so when the process runs out of file descriptors.
type countedListener struct {
	net.Listener
	conns *limit.Conns
	meter kit.Meter
	log   *ratelog.Logger
	// plainHTTP: refusals can be answered in HTTP (no TLS in between).
	plainHTTP bool
}

func (l *countedListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if acceptloop.OutOfFiles(err) {
				acceptloop.Failed(l.log, "http", l.Addr(), err)
			}
			return nil, err // http.Server retries temporary errors with a backoff
		}
		release, err := l.conns.Acquire(nc.RemoteAddr().String())
		if err != nil {
			go l.refuse(nc, err)
			continue
		}
		l.log.Log(slog.LevelDebug, "connection opened", "transport", "http", "remote", nc.RemoteAddr().String())
		return &countedConn{Conn: nc, release: release, disconnected: l.meter.Connected(), log: l.log}, nil
	}
}

// refuseWait bounds the time spent telling a refused client why.
const refuseWait = time.Second

// refuse answers a connection over the limits with the JSON error streaming
// requests get (429 or 503), or just closes it under TLS. Each refusal
// holds a goroutine and its socket for at most refuseWait.
func (l *countedListener) refuse(nc net.Conn, err error) {
	defer nc.Close()
	l.log.Log(slog.LevelDebug, "connection refused", "transport", "http", "remote", nc.RemoteAddr().String(), "err", err)
	if !l.plainHTTP {
		return
	}
	nc.SetDeadline(time.Now().Add(refuseWait))
	// Answer the request, not before it: a client gets a response that
	// precedes its request as an error of its own.
	br := bufio.NewReader(nc)
	if _, err := http.ReadRequest(br); err != nil {
		return
	}
	body, _ := json.Marshal(httpx.ErrorBody{Error: httpx.ErrorDetail{Code: "too_many_connections", Message: err.Error()}})
	resp := &http.Response{
		StatusCode: httpx.ConnRefusalStatus(err), ProtoMajor: 1, ProtoMinor: 1, Close: true,
		Header:        http.Header{"Content-Type": {"application/json"}, "Retry-After": {"5"}},
		ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body)),
	}
	if resp.Write(nc) != nil {
		return
	}
	// Read what else the client sent before closing: closing with input
	// unread would reset the connection and could lose the answer.
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	io.Copy(io.Discard, br)
}

// countedConn releases its count once, when closed (by net/http, or by a
// WebSocket handler that took it over).
type countedConn struct {
	net.Conn
	once         sync.Once
	release      func()
	disconnected func()
	log          *ratelog.Logger
}

// SyscallConn is the socket's, so that a stream taken over from net/http
// can still write to it without blocking (kit.RawSocket).
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.release()
		c.disconnected()
		c.log.Log(slog.LevelDebug, "connection closed", "transport", "http", "remote", c.RemoteAddr().String())
	})
	return c.Conn.Close()
}
