package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/kit/httpx"
)

// startHTTP listens on http.addr, below TLS when there is a certificate,
// and serves in the background.
func (s *Server) startHTTP(ctx context.Context) error {
	scheme := "http"
	if s.cfg.HTTP.Cert != "" {
		tc, err := tlsconf.Config(s.cfg.HTTP.Cert, s.cfg.HTTP.Key, s.cfg.Auth.Clientca, s.log)
		if err != nil {
			return err
		}
		tc.NextProtos = []string{"h2", "http/1.1"}
		s.httpServer.TLSConfig = tc
		scheme = "https"
	}
	ln, err := net.Listen("tcp", s.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", s.cfg.HTTP.Addr, err)
	}
	ln = s.httpAdmission(s.httpServer.TLSConfig).Listener(ln)
	if s.httpServer.TLSConfig != nil {
		ln = tlsconf.NewListener(ln, s.httpServer.TLSConfig)
	}
	s.listener = ln
	s.httpServer.BaseContext = func(net.Listener) context.Context { return ctx }
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.httpServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	s.log.Info("listening", "transport", "http", "addr", ln.Addr().String(),
		"url", scheme+"://"+ln.Addr().String(), "serves", "publish, sse, ndjson, longpoll, ws, mqtt-over-websocket /mqtt, metrics")
	return nil
}

// drainHTTP stops accepting and lets the requests under way finish until
// ctx ends, in the background: the streams among them end once the hub,
// stopped after HTTP, ends their subscriptions. Then it cuts the
// connections still open (stalled clients) and closes httpDrained.
func (s *Server) drainHTTP(ctx context.Context) {
	s.httpDrained = make(chan struct{})
	go func() {
		defer close(s.httpDrained)
		if err := s.httpServer.Shutdown(ctx); err != nil {
			s.log.Warn("shutdown grace over: cutting the HTTP connections still open", "transport", "http", "err", err)
			s.httpServer.Close()
		}
	}()
}

// httpAdmission admits the HTTP listener's connections, below TLS: every
// connection, keep-alive ones included, counts against limits.connections
// and limits.peraddress (as every other transport's do) and in
// streamhub_connections{transport="http"}; those over the limits are
// answered in HTTP/1.1, under TLS too (offered only HTTP/1.1 in the
// refusal's handshake, so that an HTTP/2 client reads the answer).
func (s *Server) httpAdmission(tc *tls.Config) acceptloop.Admission {
	a := s.admission("http")
	a.Refuse = refuseHTTP
	if tc != nil {
		a.TLS = tc.Clone()
		a.TLS.NextProtos = []string{"http/1.1"}
	}
	return a
}

// refuseHTTP answers an HTTP/1 connection over the limits with the JSON
// error streaming requests get (429 or 503).
func refuseHTTP(nc net.Conn, err error) {
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
	_ = resp.Write(nc)
}
