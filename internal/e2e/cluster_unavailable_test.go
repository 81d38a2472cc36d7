package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// startClusterNode runs an in-process NATS server and one streamhub node
// on it, in the test's process.
func startClusterNode(t *testing.T, node string, mutate func(*config.Config)) (*testkit.Server, *natsserver.Server) {
	t.Helper()
	nats := testkit.StartNATS(t)
	s := testkit.Start(t, func(c *config.Config) {
		c.Cluster.URLs, c.Cluster.Node = []string{nats.ClientURL()}, node
		mutate(c)
	})
	return s, nats
}

// TestClusterUnavailableAnswers: with NATS gone, every protocol answers
// its own "server unavailable" instead of a generic error: MQTT CONNACK
// 0x88 (v5) and 0x03 (3.1.1), a WebSocket JSON error with code
// "unavailable", a plain WebSocket closed 1013 (try again later), and TCP
// text "-ERR unavailable".
func TestClusterUnavailableAnswers(t *testing.T) {
	t.Parallel()
	s, nats := startClusterNode(t, "a", func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jsonWS, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jsonWS.CloseNow()
	plainWS, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/room?retained=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plainWS.CloseNow()
	text, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()

	nats.Shutdown()
	waitUnready(t, s.URL)

	if err := jsonWS.Write(ctx, websocket.MessageText, []byte(`{"op":"pub","id":"1","topic":"room","payload":"x"}`)); err != nil {
		t.Fatal(err)
	}
	_, data, err := jsonWS.Read(ctx)
	var rep envelope.Control
	if err != nil || json.Unmarshal(data, &rep) != nil || rep.Code != envelope.CodeUnavailable {
		t.Errorf("WebSocket JSON publish answered %s (%v), want code %q", data, err, envelope.CodeUnavailable)
	}

	if err := plainWS.Write(ctx, websocket.MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err = plainWS.Read(ctx); err != nil {
			break
		}
	}
	if got := websocket.CloseStatus(err); got != websocket.StatusTryAgainLater {
		t.Errorf("plain WebSocket closed %d (%v), want 1013", got, err)
	}

	fmt.Fprint(text, "PUB room 1\nx\n")
	if reply, _ := bufio.NewReader(text).ReadString('\n'); !strings.HasPrefix(reply, "-ERR unavailable") {
		t.Errorf("TCP text PUB answered %q, want -ERR unavailable", reply)
	}

	mqttAddr := s.MQTT().Addr("mqtt").String()
	nc, err := net.Dial("tcp", mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	c5 := paho.NewClient(paho.ClientConfig{ClientID: "v5", Conn: nc})
	if ca, _ := c5.Connect(ctx, &paho.Connect{ClientID: "v5", CleanStart: true, KeepAlive: 30}); ca == nil || ca.ReasonCode != 0x88 {
		t.Errorf("MQTT 5 CONNACK %+v, want 0x88", ca)
	}
	c3 := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("v3").SetProtocolVersion(4).SetConnectRetry(false))
	tok := c3.Connect()
	tok.WaitTimeout(10 * time.Second)
	if err := tok.Error(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "unavailable") {
		t.Errorf("MQTT 3.1.1 connect: %v, want server unavailable (0x03)", err)
	}
}
