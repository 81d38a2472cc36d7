package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	"streamhub/internal/testkit/natstest"
)

// longDots is the topic: 1,400 dots, each escaped to "%2E" in its
// NATS subject, which is then longer than NATS's 4 KiB control line.
var longDots = "x/" + strings.Repeat(".", 1400)

// expectReadyAndPublishing: the node still answers /readyz 200 and takes
// a normal publish.
func expectReadyAndPublishing(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz answered %d, want 200", resp.StatusCode)
	}
	if code, _ := publishOn(t, base, "x/ok", "1"); code != http.StatusOK {
		t.Fatalf("a normal publish answered %d, want 200", code)
	}
}

// TestClusterLongTopicRefusedBeforeNATS: a topic, filter or client id
// whose NATS subject or key would not fit NATS's control line is refused
// by every protocol with its own answer, before it reaches NATS, and the
// node stays connected to NATS and ready.
func TestClusterLongTopicRefusedBeforeNATS(t *testing.T) {
	t.Parallel()
	s, _ := startClusterNode(t, "a", func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	mqttAddr := s.MQTT().Addr("mqtt").String()

	c, _ := connect5(t, s, "long", v5opts{clean: true})
	if res, err := c.Publish(ctx, &paho.Publish{Topic: longDots, QoS: 1, Payload: []byte("x")}); res == nil || res.ReasonCode != 0x90 {
		t.Errorf("MQTT 5 PUBLISH to %d dots answered %+v (%v), want PUBACK 0x90", 1400, res, err)
	}
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "$share/g/" + longDots, QoS: 1}, {Topic: longDots + "/#", QoS: 1}, {Topic: "x/short", QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 3 || sa.Reasons[0] != 0x8F || sa.Reasons[1] != 0x8F || sa.Reasons[2] != 1 {
		t.Errorf("MQTT 5 SUBSCRIBE answered %+v (%v), want 0x8F, 0x8F, 1", sa, err)
	}

	nc, err := net.Dial("tcp", mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	long := paho.NewClient(paho.ClientConfig{Conn: nc})
	id := strings.Repeat("c", 3100)
	if ca, _ := long.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); ca == nil || ca.ReasonCode != 0x85 {
		t.Errorf("MQTT 5 CONNECT with a 3,100-byte client id answered %+v, want CONNACK 0x85", ca)
	}

	lost := make(chan error, 1)
	c3 := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("v3").SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectionLostHandler(func(_ paho3.Client, err error) { lost <- err }))
	if tok := c3.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT 3.1.1 connect: %v", tok.Error())
	}
	c3.Publish(longDots, 1, false, "x")
	select {
	case <-lost: // 3.1.1 has no reason code: the connection is closed
	case <-ctx.Done():
		t.Error("MQTT 3.1.1 PUBLISH to a long topic: the connection was not closed")
	}

	resp, err := http.Post(s.URL+"/v1/publish/"+longDots, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	expectInvalidTopic(t, "HTTP publish", resp)
	resp, err = http.Get(s.URL + "/v1/subscribe?topic=" + url.QueryEscape(longDots))
	if err != nil {
		t.Fatal(err)
	}
	expectInvalidTopic(t, "HTTP subscribe", resp)

	ws, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for _, op := range []string{`"op":"pub","topic":%q,"payload":"x"`, `"op":"sub","topics":[%q]`} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"id":"1",`+fmt.Sprintf(op, longDots)+`}`)); err != nil {
			t.Fatal(err)
		}
		_, data, err := ws.Read(ctx)
		var rep envelope.Control
		if err != nil || json.Unmarshal(data, &rep) != nil || rep.Code != envelope.CodeBadRequest || !strings.Contains(rep.Message, "limit") {
			t.Errorf("WebSocket %s answered %.300s (%v), want code %q naming the limit", op[:10], data, err, envelope.CodeBadRequest)
		}
	}

	text, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	fmt.Fprintf(text, "PUB %s 1\nx\n", longDots)
	if reply, _ := bufio.NewReader(text).ReadString('\n'); !strings.HasPrefix(reply, "-ERR invalid_topic") {
		t.Errorf("TCP text PUB answered %.100q, want -ERR invalid_topic", reply)
	}

	expectReadyAndPublishing(t, s.URL)
}

// expectInvalidTopic: resp is a 400 whose JSON error names the limit.
func expectInvalidTopic(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_topic"`) || !strings.Contains(string(body), "limit") {
		t.Errorf("%s of a long topic answered %d %.300s, want 400 invalid_topic naming the limit", what, resp.StatusCode, body)
	}
}

// TestClusterAdminAndPayloadLimit: on a cluster, /v1/admin/topics says
// which topics are durable as durable.streams does, a publish larger than
// NATS's max_payload (1 MiB) answers 413 with a JSON error, and the NATS
// URL's password is not in /v1/admin/config.
func TestClusterAdminAndPayloadLimit(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t, func(o *natsserver.Options) { o.Username, o.Password = "streamhub", "s3cret-pw" })
	natsURL := strings.Replace(ns.ClientURL(), "nats://", "nats://streamhub:s3cret-pw@", 1)
	s := testkit.Start(t, func(c *config.Config) {
		c.Cluster.URLs, c.Cluster.Node = []string{natsURL}, "a"
		c.Durable.Streams = []config.DurableStream{{Filter: "d/#"}}
	})
	publishHTTP(t, s, "d/1", "x")
	publishHTTP(t, s, "n/1", "x")
	durable := map[string]bool{}
	// A topic is listed once the stream delivered it back to the node.
	testkit.Eventually(t, 20*time.Second, "both topics in /v1/admin/topics", func() bool {
		var topics struct {
			Topics []struct {
				Name    string
				Durable bool
			}
		}
		adminGet(t, s, "topics", &topics)
		for _, tp := range topics.Topics {
			durable[tp.Name] = tp.Durable
		}
		return len(durable) == 2
	})
	if !durable["d/1"] || durable["n/1"] {
		t.Errorf("/v1/admin/topics durable: %v, want d/1 true and n/1 false", durable)
	}

	resp, err := http.Post(s.URL+"/v1/publish/d/big", "application/octet-stream", strings.NewReader(strings.Repeat("x", 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), `"payload_too_large"`) {
		t.Errorf("a 2 MiB publish answered %d %.300s, want 413 payload_too_large", resp.StatusCode, body)
	}

	resp = adminDo(t, s, http.MethodGet, "config")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "s3cret-pw") || !strings.Contains(string(body), "streamhub:xxxxx@") {
		t.Errorf("/v1/admin/config answered %d %.500s, want the NATS URL without its password", resp.StatusCode, body)
	}
	expectReadyAndPublishing(t, s.URL)
}

// TestClusterNodeRejoinsRestartedNATS: NATS killed under a running node
// makes /readyz answer 503; once NATS is back the node reconnects by
// itself, /readyz answers 200 again, publishes are taken and a
// subscription made before the loss delivers them.
func TestClusterNodeRejoinsRestartedNATS(t *testing.T) {
	t.Parallel()
	nats := testkit.StartNATSProcess(t, testkit.NATSServerBinary(t))
	s := testkit.Start(t, func(c *config.Config) { c.Cluster.URLs, c.Cluster.Node = []string{nats.URL}, "a" })
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	sse := sseFrom(t, ctx, s.URL+"/v1/subscribe?topic=r/%23&retained=false", "")
	if code, _ := publishOn(t, s.URL, "r/1", "before"); code != http.StatusOK {
		t.Fatalf("publish before: %d", code)
	}
	expectEvents(t, sse, "before")

	nats.Kill()
	waitUnready(t, s.URL)
	nats.Restart(t)
	testkit.Eventually(t, 60*time.Second, "the node ready and publishing again", func() bool {
		code, _ := publishOn(t, s.URL, "r/2", "after")
		return code == http.StatusOK
	})
	expectReadyAndPublishing(t, s.URL)
	for {
		ev, err := sse.Next()
		if err != nil {
			t.Fatalf("subscription after NATS came back: %v", err)
		}
		if ev.Data == "after" {
			break
		}
	}
}
