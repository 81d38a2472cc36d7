package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// rawMQTT connects with a hand-encoded CONNECT and returns the socket
// after a successful CONNACK.
func rawMQTT(t testing.TB, s *testkit.Server, version byte, id string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	name := "MQTT"
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte(name), ClientIdentifier: id, Clean: true, Keepalive: 30}}
	writePacket(t, nc, &pk)
	r := bufio.NewReader(nc)
	ack := readRaw(t, nc, r, version)
	if ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK: %+v", ack)
	}
	return nc, r
}

func writePacket(t testing.TB, w io.Writer, pk *packets.Packet) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func readRaw(t testing.TB, nc net.Conn, r *bufio.Reader, version byte) packets.Packet {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var pk packets.Packet
	b, err := r.ReadByte()
	if err != nil {
		pk.FixedHeader.Type = 255 // closed
		return pk
	}
	pk.FixedHeader.Decode(b)
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, n)
	io.ReadFull(r, body)
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// TestMQTTBadInput sends malformed packets and protocol violations: each
// ends that connection with the right MQTT 5 reason code (3.1.1: a close),
// and a bystander keeps receiving.
func TestMQTTBadInput(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Payload = 1024 })
	bystander, got := connect5(t, s, "bystander", v5opts{clean: true})
	subscribe5(t, bystander, paho.SubscribeOptions{Topic: "ok/#", QoS: 1})

	publish := func(name string) []byte {
		var buf bytes.Buffer
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: name, Payload: []byte("x"), ProtocolVersion: 5}
		pk.PublishEncode(&buf)
		return buf.Bytes()
	}
	invalidUTF8 := []byte{0x30, 0x06, 0x00, 0x02, 0xC3, 0x28, 0x00, 'x'} // QoS 0 PUBLISH, topic "\xC3(", no properties
	cases := []struct {
		name string
		send []byte
		code byte
	}{
		{"second CONNECT", func() []byte {
			var b bytes.Buffer
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
				Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "x", Clean: true}}
			pk.ConnectEncode(&b)
			return b.Bytes()
		}(), 0x82},
		{"wildcard in publish topic", publish("a/+/b"), 0x90},
		{"invalid UTF-8 topic", invalidUTF8, 0x81},
		{"packet over the maximum size", []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, 0x95},
		{"bad remaining length", []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, 0x81},
		{"reserved packet type", []byte{0x00, 0x00}, 0x82},
	}
	for _, c := range cases {
		for _, version := range []byte{5, 4} {
			nc, r := rawMQTT(t, s, version, "bad")
			nc.Write(c.send)
			pk := readRaw(t, nc, r, version)
			switch {
			case version == 5 && (pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != c.code):
				t.Errorf("v5 %s: got type %d reason %#x, want DISCONNECT %#x", c.name, pk.FixedHeader.Type, pk.ReasonCode, c.code)
			case version == 4 && pk.FixedHeader.Type != 255:
				t.Errorf("v3.1.1 %s: got packet type %d, want the connection closed", c.name, pk.FixedHeader.Type)
			}
			if version == 5 && pk.FixedHeader.Type == packets.Disconnect {
				if _, err := r.ReadByte(); err == nil {
					t.Errorf("%s: connection left open after DISCONNECT", c.name)
				}
			}
		}
	}
	httpPublish(t, s.URL, "ok/still", []byte("fine"), "")
	testkit.Eventually(t, 10*time.Second, "the bystander's message", func() bool { return len(got.list()) == 1 })
}
