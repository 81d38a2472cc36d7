package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestNoLocalDeliversToOthers (issue 14, item 9): No Local hides a client's
// own publishes from it, never from other clients that set No Local too.
func TestNoLocalDeliversToOthers(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	a, gotA := connect5(t, s, "nolocal-a", v5opts{clean: true})
	b, gotB := connect5(t, s, "nolocal-b", v5opts{clean: true})
	for _, c := range []*paho.Client{a, b} {
		subscribe5(t, c, paho.SubscribeOptions{Topic: "nolocal/t", QoS: 1, NoLocal: true})
	}
	publish5(t, a, &paho.Publish{Topic: "nolocal/t", QoS: 1, Payload: []byte("from a")})
	publish5(t, b, &paho.Publish{Topic: "nolocal/t", QoS: 1, Payload: []byte("from b")})
	testkit.Eventually(t, 10*time.Second, "each client gets the other's message", func() bool {
		return len(gotA.list()) >= 1 && len(gotB.list()) >= 1
	})
	time.Sleep(100 * time.Millisecond) // room for a wrong own delivery to show
	if p := gotA.payloads(); !slices.Equal(p, []string{"from b"}) {
		t.Errorf("a got %q, want only b's message", p)
	}
	if p := gotB.payloads(); !slices.Equal(p, []string{"from a"}) {
		t.Errorf("b got %q, want only a's message", p)
	}
}

// readUntilDisconnect reads packets until a DISCONNECT (returned) or the
// end of the connection (type 255).
func readUntilDisconnect(t *testing.T, nc net.Conn, r *bufio.Reader, version byte) packets.Packet {
	t.Helper()
	for {
		pk := readRaw(t, nc, r, version)
		if pk.FixedHeader.Type == packets.Disconnect || pk.FixedHeader.Type == 255 {
			return pk
		}
	}
}

// rawPublish is a PUBLISH's wire form.
func rawPublish(t *testing.T, version, qos byte, id uint16, name string, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, ProtocolVersion: version,
		TopicName: name, PacketID: id, Payload: payload}
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReceiveMaximumExceeded (issue 14, item 10): a v5 client with more
// unreleased QoS 2 publishes than the server's Receive Maximum is told
// 0x93 before the connection closes, even when more of its packets are
// still on the way.
func TestReceiveMaximumExceeded(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.MQTT.Receivemax = 2 })
	nc, r := rawMQTT(t, s, 5, "qos2-flood")
	var burst []byte
	for id := range uint16(2000) {
		burst = append(burst, rawPublish(t, 5, 2, id+1, "rm/t", bytes.Repeat([]byte("x"), 1000))...)
	}
	go nc.Write(burst) // blocks once the server stops reading; ends with the connection
	if pk := readUntilDisconnect(t, nc, r, 5); pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != 0x93 {
		t.Fatalf("got packet type %d reason %#x, want DISCONNECT 0x93", pk.FixedHeader.Type, pk.ReasonCode)
	}
}

// TestPacketTooLarge (issue 14, item 11): a PUBLISH over the server's
// limits is a protocol error whatever its QoS: v5 gets DISCONNECT 0x95 and
// the connection closes, never a PUBACK on an open connection; 3.1.1 is
// closed.
func TestPacketTooLarge(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Payload = 1024 })
	for _, version := range []byte{5, 4} {
		for qos := range byte(3) {
			nc, r := rawMQTT(t, s, version, "big")
			if _, err := nc.Write(rawPublish(t, version, qos, 1, "big/t", make([]byte, 2000))); err != nil {
				t.Fatal(err)
			}
			pk := readUntilDisconnect(t, nc, r, version)
			switch {
			case version == 5 && (pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != 0x95):
				t.Errorf("v5 QoS %d: got type %d reason %#x, want DISCONNECT 0x95", qos, pk.FixedHeader.Type, pk.ReasonCode)
			case version == 4 && pk.FixedHeader.Type != 255:
				t.Errorf("v3.1.1 QoS %d: got packet type %d, want the connection closed", qos, pk.FixedHeader.Type)
			}
			if _, err := r.ReadByte(); err == nil {
				t.Errorf("v%d QoS %d: connection left open", version, qos)
			}
		}
	}
}

// TestACLDeniedSubscription (issue 14, item 12): a filter an ACL rule
// denies, even a plain one, gets SUBACK 0x80 (3.1.1) or 0x87 (5), as
// mosquitto_sub reports it.
func TestACLDeniedSubscription(t *testing.T) {
	t.Parallel()
	sub := mosquittoTool(t, "mosquitto_sub")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testkit.Start(t, func(c *config.Config) {
		c.Auth = config.Auth{Required: true, Users: users, ACL: []config.ACL{
			{Who: "*", Subscribe: []string{"#"}, Publish: []string{"#"}, Denysubscribe: []string{"test/nosubscribe"}}}}
	})
	for version, want := range map[string]string{"mqttv311": "Subscribed (mid: 1): 128", "mqttv5": "Subscribed (mid: 1): 135"} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		out, _ := exec.CommandContext(ctx, sub, "-p", mqttPort(s), "-V", version, "-u", "alice", "-P", "pw",
			"-t", "test/nosubscribe", "-d", "-W", "5").CombinedOutput()
		cancel()
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "All subscription requests were denied") {
			t.Errorf("%s: want %q, got:\n%s", version, want, out)
		}
	}
}
