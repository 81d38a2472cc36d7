package e2e

import (
	"context"
	"net"
	"testing"

	"github.com/coder/websocket"

	"streamhub/internal/testkit"
)

func dialMQTTWebSocket(t *testing.T, s *testkit.Server) net.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(t.Context(), s.WSURL+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" {
		t.Fatalf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary)
}
