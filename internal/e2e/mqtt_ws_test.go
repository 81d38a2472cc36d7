package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

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

// TestMQTT311OverWebSocketPahoGorilla: a second WebSocket client library
// (paho.mqtt.golang dials ws:// with gorilla/websocket, subprotocol "mqtt")
// subscribes and publishes over /mqtt: a QoS 1 round trip through the
// server, with a payload larger than one read of the socket, and an HTTP
// publish received.
func TestMQTT311OverWebSocketPahoGorilla(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	got := make(chan string, 4)
	opts := paho3.NewClientOptions().AddBroker(s.WSURL + "/mqtt").SetClientID("gorilla").
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { got <- string(m.Payload()) })
	c := paho3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect over ws: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("gorilla/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	big := strings.Repeat("0123456789", 10<<10) // 100 KiB
	if tok := c.Publish("gorilla/big", 1, false, big); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	httpPublish(t, s.URL, "gorilla/http", []byte("from http"), "")
	for _, want := range []string{big, "from http"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %d bytes %.20q, want %d bytes %.20q", len(m), m, len(want), want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no delivery of %.20q", want)
		}
	}
}
