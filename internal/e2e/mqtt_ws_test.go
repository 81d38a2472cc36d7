package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
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

// TestMQTTOverTLS connects paho.golang to the TLS listener, which opens
// when a certificate and key are configured.
func TestMQTTOverTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) { c.MQTT.Cert, c.MQTT.Key = certFile, keyFile })
	nc, err := tls.Dial("tcp", s.MQTT().Addr("mqtts").String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	c, got := connect5(t, s, "tls-client", v5opts{clean: true, conn: nc})
	subscribe5(t, c, paho.SubscribeOptions{Topic: "tls/#", QoS: 1})
	httpPublish(t, s.URL, "tls/x", []byte("over TLS"), "")
	testkit.Eventually(t, 10*time.Second, "delivery over TLS", func() bool { return len(got.list()) == 1 })
}
