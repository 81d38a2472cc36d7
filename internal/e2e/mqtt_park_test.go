package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// Idle MQTT connections, plain and TLS, park in the server's idle poller
// with no goroutine of their own (docs/IDLE.md); these tests hold them
// there and check that what wakes them (input, keep-alive expiry, kicks,
// takeovers, records crypto/tls read ahead) is handled as before.

// parkedConnections is the streamhub_connections_parked gauge.
func parkedConnections(t *testing.T, s *testkit.Server) float64 {
	return metric(t, s, "streamhub_connections_parked")
}

// startWithMQTTS starts a server with its MQTT TLS listener open, and
// returns the pool that trusts its certificate.
func startWithMQTTS(t *testing.T) (*testkit.Server, *x509.CertPool) {
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	return testkit.Start(t, func(c *config.Config) { c.MQTT.Cert, c.MQTT.Key = certFile, keyFile }), pool
}

// waitParked waits until at least n connections are parked.
func waitParked(t *testing.T, s *testkit.Server, n int) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, fmt.Sprintf("%d connections parked", n), func() bool {
		return parkedConnections(t, s) >= float64(n)
	})
}

// parkClient is a raw MQTT client on a plain or TLS socket; flush
// collects what is sent until the next flush, so that several packets
// (several TLS records) reach the server in one write.
type parkClient struct {
	t       *testing.T
	nc      net.Conn
	r       *bufio.Reader
	version byte
	batch   *corkedConn // under nc, when dialled batching
}

type parkDial struct {
	tls     *x509.CertPool // nil: plain TCP
	version byte
	id      string
	keep    uint16
	will    string // topic of a will, if any
	batch   bool
	// maxTLS caps the TLS version (0: TLS 1.3, which the server serves
	// with tls13rec; tls.VersionTLS12 stays on crypto/tls).
	maxTLS uint16
	nc     net.Conn // a socket already dialled (nil: dial one)
}

// dialPark connects and checks the CONNACK.
func dialPark(t *testing.T, s *testkit.Server, o parkDial) *parkClient {
	t.Helper()
	kind := "mqtt"
	if o.tls != nil {
		kind = "mqtts"
	}
	nc := o.nc
	if nc == nil {
		var err error
		if nc, err = net.Dial("tcp", s.MQTT().Addr(kind).String()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
	}
	c := &parkClient{t: t, nc: nc, version: o.version}
	if o.batch {
		c.batch = &corkedConn{Conn: nc}
		c.nc = c.batch
	}
	if o.tls != nil {
		tc := tls.Client(c.nc, &tls.Config{RootCAs: o.tls, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, MaxVersion: o.maxTLS})
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		tc.SetDeadline(time.Time{})
		c.nc = tc
	}
	c.r = bufio.NewReader(c.nc)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: o.version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: o.id, Clean: true, Keepalive: o.keep}}
	if o.will != "" {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, o.will, []byte(o.id)
	}
	c.send(&pk)
	if ack := c.read(); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK: %+v", o.id, ack.FixedHeader)
	}
	return c
}

func (c *parkClient) send(pk *packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = c.version
	writePacket(c.t, c.nc, pk)
}

// dialWillWatcher connects a client subscribed to will/#.
func dialWillWatcher(t *testing.T, s *testkit.Server) *parkClient {
	t.Helper()
	w := dialPark(t, s, parkDial{version: 5, id: "watcher", keep: 60})
	w.subscribe("will/#")
	return w
}

// expectDisconnect reads the server's DISCONNECT with reason code, then
// the connection's end.
func (c *parkClient) expectDisconnect(what string, code byte) {
	c.t.Helper()
	if pk := c.read(); pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != code {
		c.t.Fatalf("%s: got %+v reason %#x, want DISCONNECT %#x", what, pk.FixedHeader, pk.ReasonCode, code)
	}
	if pk := c.read(); pk.FixedHeader.Type != 255 {
		c.t.Fatalf("%s: got %+v after DISCONNECT, want the connection closed", what, pk.FixedHeader)
	}
}

// expectPublish reads a PUBLISH to topic.
func (c *parkClient) expectPublish(topic string) {
	c.t.Helper()
	if pk := c.read(); pk.FixedHeader.Type != packets.Publish || pk.TopicName != topic {
		c.t.Fatalf("got %+v %q, want a publish to %s", pk.FixedHeader, pk.TopicName, topic)
	}
}

func (c *parkClient) subscribe(filter string) {
	c.t.Helper()
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter}}})
	if pk := c.read(); pk.FixedHeader.Type != packets.Suback {
		c.t.Fatalf("SUBACK: %+v reason %#x %q", pk.FixedHeader, pk.ReasonCode, pk.Properties.ReasonString)
	}
}

// read returns the next packet, or one of type 255 once the server closed
// the connection; a generous deadline bounds a stuck server.
func (c *parkClient) read() packets.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		pk.FixedHeader.Type = 255
		return pk
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		c.t.Fatal(err)
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		c.t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatalf("packet body: %v", err)
	}
	pk.FixedHeader.Remaining, pk.ProtocolVersion = n, c.version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return pk
}

// TestMQTTIdleConnectionsParked: idle MQTT connections over TCP and TLS
// wait parked (the gauge counts them); a publish to all wakes each, which
// receives it and answers a ping, and parks again.
func TestMQTTIdleConnectionsParked(t *testing.T) {
	t.Parallel()
	s, pool := startWithMQTTS(t)
	const each = 40
	var clients []*parkClient
	for i := range each {
		for _, tp := range []*x509.CertPool{nil, pool} {
			c := dialPark(t, s, parkDial{tls: tp, version: 4, id: fmt.Sprintf("idle-%d-%v", i, tp != nil), keep: 60})
			c.subscribe("park/all")
			clients = append(clients, c)
		}
	}
	waitParked(t, s, len(clients))
	for round := range 2 {
		payload := fmt.Sprintf("to all %d", round)
		httpPublish(t, s.URL, "park/all", []byte(payload), "")
		for i, c := range clients {
			if pk := c.read(); pk.FixedHeader.Type != packets.Publish || string(pk.Payload) != payload {
				t.Fatalf("client %d: got %+v %q, want the publish %q", i, pk.FixedHeader, pk.Payload, payload)
			}
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
			if pk := c.read(); pk.FixedHeader.Type != packets.Pingresp {
				t.Fatalf("client %d: got %+v, want PINGRESP", i, pk.FixedHeader)
			}
		}
		waitParked(t, s, len(clients))
	}
}

// TestMQTTParkedKeepAliveExpiry: a parked connection whose client stays
// silent past its keep-alive is closed as before, a v5 client told why
// (DISCONNECT 0x8D), and its will is published.
func TestMQTTParkedKeepAliveExpiry(t *testing.T) {
	t.Parallel()
	s, pool := startWithMQTTS(t)
	watcher := dialWillWatcher(t, s)
	for _, tp := range []*x509.CertPool{nil, pool} {
		id := fmt.Sprintf("silent-tls-%v", tp != nil)
		silent := dialPark(t, s, parkDial{tls: tp, version: 5, id: id, keep: 1, will: "will/" + id})
		waitParked(t, s, 2)
		silent.expectDisconnect(id, packets.ErrKeepAliveTimeout.Code)
		watcher.expectPublish("will/" + id)
	}
}

// TestMQTTParkedConnectionsKickedAndTakenOver: a kick by the admin API
// (0x98) and a takeover by the same client id (0x8E) reach parked v5
// connections as their DISCONNECT, and a kicked client's will is sent.
func TestMQTTParkedConnectionsKickedAndTakenOver(t *testing.T) {
	t.Parallel()
	s, pool := startWithMQTTS(t)
	watcher := dialWillWatcher(t, s)
	for i, tp := range []*x509.CertPool{nil, pool} {
		kind := fmt.Sprintf("tls-%v", tp != nil)
		held := 1 + i // the watcher and the connections that took over before
		kicked := dialPark(t, s, parkDial{tls: tp, version: 5, id: "kicked-" + kind, will: "will/kicked-" + kind})
		kicked.subscribe("kick/" + kind)
		listed := waitClient(t, s, "mqtt", "kick/"+kind)
		waitParked(t, s, held+1)
		kick(t, s, listed.ID)
		kicked.expectDisconnect("kicked "+kind, packets.ErrAdministrativeAction.Code)
		watcher.expectPublish("will/kicked-" + kind)

		first := dialPark(t, s, parkDial{tls: tp, version: 5, id: "taken-" + kind})
		waitParked(t, s, held+1)
		second := dialPark(t, s, parkDial{tls: tp, version: 5, id: "taken-" + kind})
		first.expectDisconnect("taken over "+kind, packets.ErrSessionTakenOver.Code)
		second.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		if pk := second.read(); pk.FixedHeader.Type != packets.Pingresp {
			t.Fatalf("the new connection %s: got %+v, want PINGRESP", kind, pk.FixedHeader)
		}
	}
}

// TestMQTTTLSRecordsReadAheadAreHandled: packets that reach the server in
// one TCP write as several TLS records (crypto/tls may read them all with
// the first) are all handled, though the socket has nothing more to read
// when the connection would park: a subscription, a publish to itself and
// a burst of pings, then once parked a publish and pings again.
func TestMQTTTLSRecordsReadAheadAreHandled(t *testing.T) {
	t.Parallel()
	s, pool := startWithMQTTS(t)
	c := dialPark(t, s, parkDial{tls: pool, version: 4, id: "ahead", keep: 60, batch: true})
	const pings = 16
	burst := func(round int) {
		c.batch.cork()
		if round == 0 {
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: "ahead"}}})
		}
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "ahead", Payload: []byte{byte(round)}})
		for range pings {
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		}
		if err := c.batch.uncork(); err != nil {
			t.Fatal(err)
		}
		want := map[byte]int{packets.Publish: 1, packets.Pingresp: pings}
		if round == 0 {
			want[packets.Suback] = 1
		}
		got := map[byte]int{}
		for n := 0; n < 1+pings+want[packets.Suback]; n++ {
			pk := c.read()
			got[pk.FixedHeader.Type]++
			if got[pk.FixedHeader.Type] > want[pk.FixedHeader.Type] {
				t.Fatalf("round %d: got %+v after %v", round, pk.FixedHeader, got)
			}
		}
	}
	burst(0)
	waitParked(t, s, 1)
	burst(1)
}

// TestMQTTParkedBeforeConnect: a plain connection accepted before its
// CONNECT came waits parked (no goroutine); its CONNECT then connects it
// as usual, one that never sends is closed once the CONNECT's time is up
// (10 s from the accept), and one still waiting when the server stops
// does not hold the stop up.
func TestMQTTParkedBeforeConnect(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	late, silent := dial(), dial()
	waitParked(t, s, 2)

	c := &parkClient{t: t, nc: late, r: bufio.NewReader(late), version: 4}
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "late", Clean: true, Keepalive: 60}})
	if ack := c.read(); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK: %+v", ack.FixedHeader)
	}
	c.subscribe("early/late")
	httpPublish(t, s.URL, "early/late", []byte("hello"), "")
	c.expectPublish("early/late")

	silent.SetReadDeadline(time.Now().Add(60 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection that never sent CONNECT: read %d, %v; want the server's close (EOF)", n, err)
	}
	dial() // parked when the server stops (the test's cleanup)
	waitParked(t, s, 2)
}

// TestMQTTTLSParkedBeforeHello: a TLS connection accepted before its
// ClientHello came waits parked (no goroutine); the ClientHello wakes it,
// and its handshake, TLS 1.3 (tls13rec) or 1.2 (crypto/tls), and CONNECT
// connect it as usual.
func TestMQTTTLSParkedBeforeHello(t *testing.T) {
	t.Parallel()
	s, pool := startWithMQTTS(t)
	var socks []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", s.MQTT().Addr("mqtts").String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		socks = append(socks, nc)
	}
	waitParked(t, s, 2)
	tls13 := dialPark(t, s, parkDial{tls: pool, version: 4, id: "hello-13", keep: 60, nc: socks[0]})
	tls12 := dialPark(t, s, parkDial{tls: pool, version: 5, id: "hello-12", keep: 60, nc: socks[1], maxTLS: tls.VersionTLS12})
	for _, c := range []*parkClient{tls13, tls12} {
		c.subscribe("hello/late")
	}
	waitParked(t, s, 2)
	httpPublish(t, s.URL, "hello/late", []byte("hello"), "")
	for _, c := range []*parkClient{tls13, tls12} {
		c.expectPublish("hello/late")
	}
}
