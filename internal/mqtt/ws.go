package mqtt

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

// WebSocketHandler serves MQTT over WebSocket (subprotocol "mqtt"), as
// MQTT.js in a browser speaks it, on the HTTP listener's /mqtt.
func (s *Server) WebSocketHandler(originPatterns []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &websocket.AcceptOptions{Subprotocols: []string{"mqtt", "mqttv3.1"}, OriginPatterns: originPatterns}
		for _, p := range originPatterns {
			if p == "*" {
				opts.InsecureSkipVerify = true
			}
		}
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		c.SetReadLimit(int64(s.cfg.MaxPacket) + 16)
		s.ServeConn(websocket.NetConn(context.Background(), c, websocket.MessageBinary))
	})
}
