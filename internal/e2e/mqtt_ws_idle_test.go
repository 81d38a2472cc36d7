package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// wsClient3 is a raw MQTT 3.1.1 client over /mqtt, to hold idle and to
// leave without a word.
type wsClient3 struct {
	nc net.Conn
	r  *bufio.Reader
}

// connectWS3 connects a raw MQTT 3.1.1 client over a WebSocket stream nc
// with the keep-alive (seconds) and will (topic, payload; none if the
// topic is "").
func connectWS3(t *testing.T, nc net.Conn, id string, keepalive uint16, willTopic, will string) *wsClient3 {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: id, Clean: true, Keepalive: keepalive}}
	if willTopic != "" {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, willTopic, []byte(will)
	}
	writePacket(t, nc, &pk)
	c := &wsClient3{nc: nc, r: bufio.NewReader(nc)}
	if typ, body := c.read(t); typ != packets.Connack || len(body) != 2 || body[1] != 0 {
		t.Fatalf("%s: CONNACK: type %d %x", id, typ, body)
	}
	return c
}

// subscribe subscribes to filter at QoS 0 and waits for the SUBACK.
func (c *wsClient3) subscribe(t *testing.T, filter string) {
	t.Helper()
	writePacket(t, c.nc, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		ProtocolVersion: 4, Filters: packets.Subscriptions{{Filter: filter}}})
	if typ, _ := c.read(t); typ != packets.Suback {
		t.Fatalf("SUBACK: type %d", typ)
	}
}

// read reads one packet: its type and body.
func (c *wsClient3) read(t *testing.T) (byte, []byte) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := c.r.ReadByte()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		t.Fatal(err)
	}
	return b >> 4, body
}

// waitingHandlers counts the goroutines still inside the MQTT WebSocket
// handler, in every server of the test binary.
func waitingHandlers(t *testing.T) int {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, group := range strings.Split(buf.String(), "\n\n") {
		if !strings.Contains(group, "WebSocketHandler.func") {
			continue
		}
		// A group opens with "COUNT @ PCS" (the first after the
		// profile's own header line).
		for _, line := range strings.Split(group, "\n") {
			if count, _, ok := strings.Cut(line, " @ "); ok {
				k, _ := strconv.Atoi(count)
				n += k
				break
			}
		}
	}
	return n
}

// TestIdleMQTTOverWebSocketReceive: idle MQTT-over-WebSocket clients keep
// no HTTP handler waiting (the connection is hijacked and the reader goes
// on alone), their sockets park, and one publish still reaches each of
// them.
func TestIdleMQTTOverWebSocketReceive(t *testing.T) {
	s := testkit.Start(t, nil)
	const clients = 20
	conns := make([]*wsClient3, clients)
	for i := range conns {
		conns[i] = connectWS3(t, dialMQTTWebSocket(t, s), "idle-ws-"+strconv.Itoa(i), 30, "", "")
		conns[i].subscribe(t, "idle/ws")
	}
	testkit.Eventually(t, 10*time.Second, "no goroutine left in the MQTT WebSocket handler", func() bool {
		return waitingHandlers(t) == 0
	})
	waitParked(t, s, clients)
	httpPublish(t, s.URL, "idle/ws", []byte("to every idle one"), "")
	for i, c := range conns {
		typ, body := c.read(t)
		if typ != packets.Publish || !bytes.HasSuffix(body, []byte("to every idle one")) {
			t.Fatalf("client %d: type %d %q, want the PUBLISH", i, typ, body)
		}
	}
}

// TestIdleMQTTOverWebSocketClientLeaves: a client that drops its idle
// WebSocket without a DISCONNECT is cleaned up: it no longer counts as an
// MQTT connection.
func TestIdleMQTTOverWebSocketClientLeaves(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	c := connectWS3(t, dialMQTTWebSocket(t, s), "leaving", 30, "", "")
	c.subscribe(t, "leaving/#")
	testkit.Eventually(t, 10*time.Second, "one MQTT connection", func() bool {
		return counter(t, s, `streamhub_connections{transport="mqtt"}`) == 1
	})
	c.nc.Close()
	testkit.Eventually(t, 10*time.Second, "no MQTT connection once the client left", func() bool {
		return counter(t, s, `streamhub_connections{transport="mqtt"}`) == 0
	})
}

// TestIdleMQTTOverWebSocketKeepAliveWill: an MQTT-over-WebSocket client
// silent past its keep-alive is ended and its will published.
func TestIdleMQTTOverWebSocketKeepAliveWill(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	watcher, got := connect5(t, s, "watcher", v5opts{clean: true})
	subscribe5(t, watcher, paho.SubscribeOptions{Topic: "wills/#", QoS: 1})
	connectWS3(t, dialMQTTWebSocket(t, s), "silent", 1, "wills/silent", "silent is gone")
	testkit.Eventually(t, 20*time.Second, "the silent client's will", func() bool {
		l := got.list()
		return len(l) == 1 && string(l[0].Payload) == "silent is gone"
	})
	testkit.Eventually(t, 10*time.Second, "the watcher the only MQTT connection left", func() bool {
		return counter(t, s, `streamhub_connections{transport="mqtt"}`) == 1
	})
}

// TestIdleMQTTOverWSSReceive: over wss:// too (records crypto/tls may read
// ahead of the stream), idle clients park and each receives one publish.
func TestIdleMQTTOverWSSReceive(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) { c.HTTP.Cert, c.HTTP.Key = certFile, keyFile })
	// HTTP/1.1 only: WebSocket upgrades do not go over h2 here.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}}
	const clients = 10
	conns := make([]*wsClient3, clients)
	for i := range conns {
		wc, _, err := websocket.Dial(t.Context(), "wss://"+s.Addr()+"/mqtt", &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Fatal(err)
		}
		nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
		conns[i] = connectWS3(t, nc, "idle-wss-"+strconv.Itoa(i), 30, "", "")
		conns[i].subscribe(t, "idle/wss")
	}
	// Parked, every one: the read-ahead TLS records taken first.
	testkit.Eventually(t, 30*time.Second, "the wss clients parked", func() bool {
		resp, err := client.Get("https://" + s.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "streamhub_connections_parked "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n >= clients
			}
		}
		return false
	})
	pub, _ := connect5(t, s, "wss-publisher", v5opts{clean: true})
	if _, err := pub.Publish(t.Context(), &paho.Publish{Topic: "idle/wss", Payload: []byte("over wss")}); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		typ, body := c.read(t)
		if typ != packets.Publish || !bytes.HasSuffix(body, []byte("over wss")) {
			t.Fatalf("client %d: type %d %q, want the PUBLISH", i, typ, body)
		}
	}
}
