package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
)

// tcpServer serves MQTT on a loopback TCP port until the test ends.
func tcpServer(t *testing.T) (*Server, string) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	policy, err := auth.New(auth.Config{Rules: []auth.Rule{{Who: "all", Publish: []string{"#"}, Subscribe: []string{"#"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(localHub(t, log), Config{Policy: policy, Queue: hub.QueueLimits{Messages: 1 << 20, Bytes: 1 << 30}}, log, nopMeter{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(nc)
		}
	}()
	return srv, ln.Addr().String()
}

// tcpClient is a raw MQTT 3.1.1 client on a socket, one write per packet.
type tcpClient struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialTCP(t *testing.T, addr, id, filter string) *tcpClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &tcpClient{t: t, nc: nc, r: bufio.NewReader(nc)}
	c.send(connectPacket(4, id, "", "", true, 0, "", 0))
	if pk := c.read(); pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
		t.Fatalf("CONNACK: %+v", pk.FixedHeader)
	}
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter}}})
	if pk := c.read(); pk.FixedHeader.Type != packets.Suback {
		t.Fatalf("SUBACK: %+v", pk.FixedHeader)
	}
	return c
}

func (c *tcpClient) send(pk *packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = 4
	var b bytes.Buffer
	if err := encode(&b, pk); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

func (c *tcpClient) publish(topic string, payload []byte) {
	c.t.Helper()
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: payload})
}

func (c *tcpClient) read() packets.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	pk, err := readPacket(c.r, 4, 0, nil)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return pk
}

// goroutinesCreated is the number of goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestOwnPublishesStartNoGoroutines: a client that writes each PUBLISH on
// its own, to a topic it is subscribed to on the same connection (Paho's
// pattern), has it handled and written back by its reader: neither a
// writer goroutine per delivery nor a fresh reader goroutine per packet,
// which together cost more CPU than the message (issue 20 item 2). Not
// parallel: it counts the process's goroutines.
func TestOwnPublishesStartNoGoroutines(t *testing.T) {
	_, addr := tcpServer(t)
	c := dialTCP(t, addr, "own", "own")
	const rounds = 1000
	payload := []byte(strings.Repeat("x", 100))
	before := goroutinesCreated()
	for i := range rounds {
		c.publish("own", payload)
		if pk := c.read(); pk.FixedHeader.Type != packets.Publish || pk.TopicName != "own" {
			t.Fatalf("round %d: got %+v", i, pk.FixedHeader)
		}
	}
	if started := goroutinesCreated() - before; started > rounds/10 {
		t.Fatalf("%d goroutines started for %d publishes delivered back", started, rounds)
	}
}

// TestLongBurstBeforeReading: a client that publishes far more to its own
// topic than the socket buffers hold before it reads anything (one
// thread: write everything, then read) gets every message in order. The
// reader that writes the deliveries itself must not wait for the client,
// which is not reading, while the client waits for it to read.
func TestLongBurstBeforeReading(t *testing.T) {
	t.Parallel()
	_, addr := tcpServer(t)
	c := dialTCP(t, addr, "burst", "burst")
	const count = 20000
	payload := bytes.Repeat([]byte("y"), 1000) // 20 MB both ways
	done := make(chan error, 1)
	go func() {
		for i := range count {
			copy(payload, fmt.Sprintf("%08d", i))
			var b bytes.Buffer
			pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "burst", Payload: payload, ProtocolVersion: 4}
			if err := encode(&b, pk); err != nil {
				done <- err
				return
			}
			c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.nc.Write(b.Bytes()); err != nil {
				done <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	// Writing first, reading after: a writer blocked on a reader that
	// waits for it shows as the write timing out.
	if err := <-done; err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server stopped reading while the client was not reading: %v", err)
		}
		t.Fatal(err)
	}
	for i := range count {
		pk := c.read()
		if want := fmt.Sprintf("%08d", i); string(pk.Payload[:8]) != want {
			t.Fatalf("message %d is %q", i, pk.Payload[:8])
		}
	}
}
