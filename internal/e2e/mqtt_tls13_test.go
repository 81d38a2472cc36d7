package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestMQTTTLSMosquittoPeers: Debian's mosquitto_sub and mosquitto_pub
// (OpenSSL, TLS 1.3: switched to tls13rec after the handshake) and a Go
// client capped at TLS 1.2 (crypto/tls throughout) on MQTT's TLS
// listener: both subscribers park, then receive a 1 MiB message (about 64
// full records) and a small one, and one more after parking again.
func TestMQTTTLSMosquittoPeers(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) {
		c.MQTT.Cert, c.MQTT.Key = certFile, keyFile
		c.Limits.Payload = 2 << 20
	})
	_, port, _ := net.SplitHostPort(s.MQTT().Addr("mqtts").String())
	tlsArgs := []string{"-h", "127.0.0.1", "-p", port, "--cafile", certFile, "-q", "1", "-t", "tls/peers"}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	got := make(chan []byte, 16)
	cmd := exec.CommandContext(ctx, mosquittoTool(t, "mosquitto_sub"), append(tlsArgs, "-F", "%x", "-i", "sub13")...)
	startReading(t, cmd, func(r io.Reader) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 8<<20)
		for sc.Scan() {
			p, err := hex.DecodeString(sc.Text())
			if err != nil {
				t.Errorf("bad line %.40q", sc.Text())
				return
			}
			got <- p
		}
	})
	tls12 := dialPark(t, s, parkDial{tls: pool, version: 4, id: "sub12", keep: 60, maxTLS: tls.VersionTLS12})
	tls12.subscribe("tls/peers")
	pub := mosquittoTool(t, "mosquitto_pub")
	publish := func(payload []byte) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, pub, append(tlsArgs, "-f", writeTemp(t, payload))...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	// mosquitto_sub is subscribed once a probe reaches it.
	probe := []byte("probe")
	testkit.Eventually(t, 30*time.Second, "mosquitto_sub subscribed", func() bool {
		publish(probe)
		select {
		case <-got:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	expect := func(want []byte) {
		t.Helper()
		for done := false; !done; {
			select {
			case p := <-got:
				if bytes.Equal(p, probe) {
					continue
				}
				if !bytes.Equal(p, want) {
					t.Fatalf("mosquitto_sub received %d bytes, want %d", len(p), len(want))
				}
				done = true
			case <-ctx.Done():
				t.Fatalf("mosquitto_sub did not receive %d bytes", len(want))
			}
		}
		for {
			pk := tls12.read()
			if pk.FixedHeader.Type != packets.Publish {
				t.Fatalf("TLS 1.2 client: got %+v", pk.FixedHeader)
			}
			if !bytes.Equal(pk.Payload, probe) {
				if !bytes.Equal(pk.Payload, want) {
					t.Fatalf("TLS 1.2 client received %d bytes, want %d", len(pk.Payload), len(want))
				}
				return
			}
		}
	}
	waitParked(t, s, 2)
	large := make([]byte, 1<<20)
	rand.Read(large)
	publish(large)
	expect(large)
	publish([]byte("small"))
	expect([]byte("small"))
	waitParked(t, s, 2)
	publish([]byte("after parking"))
	expect([]byte("after parking"))
}

// TestMQTTTLS13PlaintextHeldIsHandled: a TLS 1.3 record carrying more
// packets than the connection's reader takes in one read leaves plaintext
// in tls13rec's connection when the reader has handled what it took; the
// connection reads it before parking (idlepoll.BuffersInput), so that
// every ping is answered though the socket has nothing more to read.
func TestMQTTTLS13PlaintextHeldIsHandled(t *testing.T) {
	t.Parallel()
	s, pool := startWithMQTTS(t)
	c := dialPark(t, s, parkDial{tls: pool, version: 4, id: "held", keep: 60})
	waitParked(t, s, 1)
	const pings = 300 // 600 bytes in one record: more than the reader's 512-byte buffer
	if _, err := c.nc.Write(bytes.Repeat([]byte{packets.Pingreq << 4, 0}, pings)); err != nil {
		t.Fatal(err)
	}
	for i := range pings {
		if pk := c.read(); pk.FixedHeader.Type != packets.Pingresp {
			t.Fatalf("answer %d: got %+v, want PINGRESP", i, pk.FixedHeader)
		}
	}
}
