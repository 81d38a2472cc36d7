package e2e

import (
	"bufio"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// partialSockets is how many sockets the partial-packet tests open:
// TEST_PARTIAL_SOCKETS=200 go test ./internal/e2e -run PartialPacket -v
func partialSockets(t *testing.T) int {
	if n, err := strconv.Atoi(os.Getenv("TEST_PARTIAL_SOCKETS")); err == nil && n > 0 {
		return n
	}
	return 50
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// waitClosed waits until the server closes every socket.
func waitClosed(t *testing.T, within time.Duration, socks []net.Conn) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i, nc := range socks {
		nc.SetReadDeadline(deadline)
		buf := make([]byte, 64)
		for {
			if _, err := nc.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("socket %d still open after %v", i, within)
				}
				break
			}
		}
	}
}

// TestPartialPacketConnectHeader (issue 14, item 5): sockets that send only
// a CONNECT header claiming 8 MiB cost no memory and are refused at once:
// a CONNECT may be at most mqtt.connectmax (64 KiB).
func TestPartialPacketConnectHeader(t *testing.T) {
	s := testkit.Start(t, nil)
	n := partialSockets(t)
	before := heapInUse()
	var socks []net.Conn
	for range n {
		nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte{0x10, 0xff, 0xff, 0xff, 0x03, 0x00, 0x04, 'M', 'Q', 'T', 'T'})
		socks = append(socks, nc)
	}
	after := heapInUse()
	t.Logf("%d sockets sent an 8 MiB CONNECT header: heap in use %d MiB before, %d MiB after", n, before>>20, after>>20)
	if after > before+32<<20 {
		t.Errorf("heap grew by %d MiB", (after-before)>>20)
	}
	waitClosed(t, 5*time.Second, socks) // the handshake's own deadline is 10 s
}

// TestPartialPacketPublishHeader (issue 14, item 5): after CONNECT with
// keep-alive 0, a PUBLISH header claiming 8 MiB followed by a few bytes
// holds memory for the bytes that came, not the length declared, and only
// for mqtt.packettimeout.
func TestPartialPacketPublishHeader(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) { c.MQTT.Packettimeout = time.Second })
	n := partialSockets(t)
	before := heapInUse()
	var socks []net.Conn
	for range n {
		nc, r := rawMQTTKeepAlive(t, s, 0)
		// PINGREQ, then a PUBLISH that declares 8 MiB and sends 14 bytes:
		// the PINGRESP tells the server has read up to the PUBLISH.
		nc.Write([]byte{0xc0, 0x00, 0x30, 0xff, 0xff, 0xff, 0x03, 0x00, 0x0c, 'p', 'a', 'r', 't', 'i', 'a', 'l', '/', 't', 'o'})
		if b, err := r.ReadByte(); err != nil || b != 0xd0 {
			t.Fatalf("PINGRESP: %#x %v", b, err)
		}
		r.ReadByte()
		socks = append(socks, nc)
	}
	after := heapInUse()
	t.Logf("%d sockets sent an 8 MiB PUBLISH header: heap in use %d MiB before, %d MiB after", n, before>>20, after>>20)
	if after > before+32<<20 {
		t.Errorf("heap grew by %d MiB", (after-before)>>20)
	}
	waitClosed(t, 5*time.Second, socks)
}

// rawMQTTKeepAlive connects a v3.1.1 client with the keep-alive given.
func rawMQTTKeepAlive(t *testing.T, s *testkit.Server, keepalive byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	// CONNECT: "MQTT", level 4, clean session, keep-alive, empty client id.
	nc.Write([]byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, keepalive, 0x00, 0x00})
	r := bufio.NewReader(nc)
	ack := make([]byte, 4)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(r, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x: %v", ack, err)
	}
	nc.SetReadDeadline(time.Time{})
	return nc, r
}

// TestPartialPacketBudget (issue 14, item 5): the memory all connections
// hold in packets still arriving is bounded by limits.partialbytes; the
// connection that needs more than is left is closed, v5 with 0x89 (Server
// busy), and a complete packet of the same size still passes when the
// budget has room.
func TestPartialPacketBudget(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Partialbytes = 64 << 10 })
	hog, hogR := rawMQTT(t, s, 5, "hog")
	// A QoS 0 PUBLISH of 200 KiB, sent in full but the last byte: its body
	// outgrows the 64 KiB budget while it arrives.
	big := rawPublish(t, 5, 0, 0, "budget/t", make([]byte, 200<<10))
	hog.Write(big[:len(big)-1])
	if pk := readUntilDisconnect(t, hog, hogR, 5); pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != 0x89 {
		t.Fatalf("got packet type %d reason %#x, want DISCONNECT 0x89", pk.FixedHeader.Type, pk.ReasonCode)
	}
	// The budget is back: a 40 KiB publish arriving in two halves passes.
	c, got := connect5(t, s, "fits", v5opts{clean: true})
	subscribe5(t, c, paho.SubscribeOptions{Topic: "budget/#", QoS: 0})
	nc, _ := rawMQTT(t, s, 5, "fits-pub")
	msg := rawPublish(t, 5, 0, 0, "budget/ok", make([]byte, 40<<10))
	nc.Write(msg[:len(msg)/2])
	nc.Write(msg[len(msg)/2:])
	testkit.Eventually(t, 10*time.Second, "the 40 KiB message", func() bool { return len(got.list()) == 1 })
}
