package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"

	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/kit/httpx"
)

// httpAdmission admits the HTTP listener's connections, below TLS: every
// connection, keep-alive ones included, counts against limits.connections
// and limits.peraddress (as every other transport's do) and in
// streamhub_connections{transport="http"}; those over the limits are
// answered in HTTP where no TLS is in between.
func (s *Server) httpAdmission() acceptloop.Admission {
	a := acceptloop.Admission{Transport: "http", Conns: s.conns, Meter: s.metrics.Transport("http"), Log: s.remote}
	if s.cfg.HTTP.Cert == "" {
		a.Refuse = refuseHTTP
	}
	return a
}

// refuseWait bounds the time spent telling a refused client why.
const refuseWait = time.Second

// refuseHTTP answers a plain HTTP connection over the limits with the JSON
// error streaming requests get (429 or 503). Each refusal holds a
// goroutine and its socket for at most refuseWait.
func refuseHTTP(nc net.Conn, err error) {
	defer nc.Close()
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
