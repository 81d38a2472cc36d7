package mqtt

import (
	"crypto/tls"
	"net"
	"net/http"

	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/kit/wsconn"
)

// webSocketProtocols are the subprotocols MQTT over WebSocket is offered
// under: "mqtt" (MQTT 3.1.1 and 5) and "mqttv3.1", which older clients send.
var webSocketProtocols = []string{"mqtt", "mqttv3.1"}

// WebSocketHandler serves MQTT over WebSocket, as MQTT.js in a browser
// speaks it, on the HTTP listener's /mqtt: the codec reads and writes a
// wsconn.NetConn as it does a socket (binary frames, packets free to span
// them). The server's one Origin check (httpx.Origins) runs before it.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No write timeout of the socket's own: the codec sets deadlines.
		c, err := wsconn.Upgrade(w, r, wsconn.Options{Protocols: webSocketProtocols})
		if err != nil {
			return // Upgrade has answered.
		}
		// A frame carries a packet (or several small ones): its header's
		// few bytes on top of the largest packet.
		c.SetReadLimit(int64(s.cfg.MaxPacket) + 16)
		// The HTTP listener admitted the connection (limits, and a count
		// as http); it counts as an MQTT connection too while it speaks
		// MQTT, as those of MQTT's own listeners do. The socket is ours
		// (hijacked): once the handshake is done this handler returns, and
		// net/http's goroutine, its deep stack, the request and its 8 KiB
		// of buffers go with it; the connection's reader goes on alone, as
		// on MQTT's own listeners, and the server's wait group and
		// connection set keep track of it.
		s.open(&countedConn{NetConn: *c.NetConn(r.TLS), uncount: s.meter.Connected()})
	})
}

// stream is a byte stream carried in another protocol's frames
// (wsconn.NetConn): its connection registers the socket under it with the
// idle poller, and parks it only once nothing of the stream is left in
// memory.
type stream interface {
	Socket() net.Conn
	Drained() bool
}

// countedConn is a WebSocket's byte stream that counts as an MQTT
// connection until it is closed (the connection closes it once, when it
// ends): the count stays with the socket rather than in every
// connection's state. It holds the stream itself, one allocation less
// for each connection.
type countedConn struct {
	wsconn.NetConn
	uncount func()
}

func (c *countedConn) Close() error {
	err := c.NetConn.Close()
	if c.uncount != nil {
		c.uncount()
		c.uncount = nil
	}
	return err
}

// tlsConn is a TLS connection, crypto/tls's or tls13rec's (MQTT's TLS
// listener).
type tlsConn interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// peerCertUser is the user a connection's verified client certificate
// names, or "" without one. Over WebSocket, the certificate is the one of
// the HTTPS request the socket arrived on.
func peerCertUser(nc net.Conn) string {
	switch c := nc.(type) {
	case tlsConn:
		if err := c.Handshake(); err != nil {
			return ""
		}
		st := c.ConnectionState()
		return tlsconf.PeerUser(&st)
	case *countedConn:
		return tlsconf.PeerUser(c.TLS)
	}
	return ""
}
