package mqtt

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/coder/websocket"

	"streamhub/internal/tlsconf"
)

// WebSocketHandler serves MQTT over WebSocket (subprotocol "mqtt"), as
// MQTT.js in a browser speaks it, on the HTTP listener's /mqtt. The
// server's one Origin check (httpx.Origins) runs before it, so the
// library's own check, which reads patterns differently, is off.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &websocket.AcceptOptions{Subprotocols: []string{"mqtt", "mqttv3.1"}, InsecureSkipVerify: true}
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		c.SetReadLimit(int64(s.cfg.MaxPacket) + 16)
		s.ServeConn(&webSocketConn{Conn: websocket.NetConn(context.Background(), c, websocket.MessageBinary), tls: r.TLS})
	})
}

// webSocketConn is MQTT over WebSocket's connection, keeping the TLS state
// of the HTTPS request it arrived on: its client certificate identifies the
// client as it does on MQTT over TLS and on /v1/ws.
type webSocketConn struct {
	net.Conn
	tls *tls.ConnectionState // nil over plain HTTP
}

// peerCertUser is the user a connection's verified client certificate
// names, or "" without one.
func peerCertUser(nc net.Conn) string {
	switch c := nc.(type) {
	case *tls.Conn:
		if err := c.Handshake(); err != nil {
			return ""
		}
		st := c.ConnectionState()
		return tlsconf.PeerUser(&st)
	case *webSocketConn:
		return tlsconf.PeerUser(c.tls)
	}
	return ""
}
