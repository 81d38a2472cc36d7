package mqtt

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
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
		s.ServeConn(websocket.NetConn(context.Background(), c, websocket.MessageBinary))
	})
}
