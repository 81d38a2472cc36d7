//go:build linux

package e2e

import (
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/testkit"
)

// openDescriptors counts the test process's open file descriptors (the
// server runs in it, and so do the clients).
func openDescriptors(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// epollRegistrations counts the sockets registered with the process's
// epoll instances (the runtime's netpoller and idlepoll's): a parked
// socket of ours is in idlepoll's only, one of net's in the runtime's too.
func epollRegistrations(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || target != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		n += strings.Count(string(info), "tfd:")
	}
	return n
}

// TestParkedSocketsHoldOneDescriptor: a parked connection, MQTT over TCP,
// over TLS 1.3 (tls13rec) and TLS 1.2 (crypto/tls) and over WebSocket,
// SSE, NDJSON, plain and JSON WebSocket, holds its socket's descriptor
// alone (sockconn, demoted: no runtime poll descriptor), also after a wait for input made it promote
// (a runtime descriptor of a duplicate): the process's descriptors grow by
// two per connection (the client's and the server's), not three, and so
// do their epoll registrations (the client's in the runtime's netpoller,
// the server's in idlepoll's), not three with net's. Not parallel: no other test opens descriptors meanwhile.
func TestParkedSocketsHoldOneDescriptor(t *testing.T) {
	s, pool := startWithMQTTS(t)
	// One of each first, so that pools, pollers and listeners are made.
	warm := []idleClient{openStream(t, s.Addr(), "text/event-stream", "fd/x"), openSocket(t, s.Addr(), "ws", "fd/x")}
	var warmMQTT []*parkClient
	for _, o := range []parkDial{
		{version: 4, id: "fd-warm", keep: 60},
		{tls: pool, version: 4, id: "fd-warm-tls13", keep: 60},
		{tls: pool, version: 4, id: "fd-warm-tls12", keep: 60, maxTLS: tls.VersionTLS12},
	} {
		c := dialPark(t, s, o)
		c.subscribe("fd/x")
		warmMQTT = append(warmMQTT, c)
	}
	const warmed = 5
	waitParked(t, s, warmed)
	time.Sleep(100 * time.Millisecond) // let the HTTP client's idle pools settle; not asserted on
	before, registeredBefore := openDescriptors(t), epollRegistrations(t)

	const each = 20
	var streams []idleClient
	var mqtts []*parkClient
	var mqttWS []*wsClient3
	for i := range each {
		streams = append(streams,
			openStream(t, s.Addr(), "text/event-stream", "fd/x"),
			openStream(t, s.Addr(), "application/x-ndjson", "fd/x"),
			openSocket(t, s.Addr(), "ws", "fd/x"),
			openSocket(t, s.Addr(), "ws-json", "fd/x"))
		for _, o := range []parkDial{
			{version: 4, id: fmt.Sprintf("fd-%d", i), keep: 60},
			{tls: pool, version: 4, id: fmt.Sprintf("fd-tls13-%d", i), keep: 60},
			{tls: pool, version: 4, id: fmt.Sprintf("fd-tls12-%d", i), keep: 60, maxTLS: tls.VersionTLS12},
		} {
			c := dialPark(t, s, o)
			c.subscribe("fd/x")
			mqtts = append(mqtts, c)
		}
		w := connectWS3(t, dialMQTTWebSocket(t, s), "fd-ws-"+strconv.Itoa(i), 60, "", "")
		w.subscribe(t, "fd/x")
		mqttWS = append(mqttWS, w)
	}
	conns := len(streams) + len(mqtts) + len(mqttWS)
	waitParked(t, s, conns+warmed)
	// Each MQTT connection's PINGREQ comes in two writes (over TLS, two
	// records): the reader waits for the second byte (promoted), then
	// parks (demoted).
	for _, c := range mqtts {
		c.nc.Write([]byte{packets.Pingreq << 4})
	}
	time.Sleep(50 * time.Millisecond) // so that most readers wait; not asserted on
	for _, c := range mqtts {
		c.nc.Write([]byte{0})
		if pk := c.read(); pk.FixedHeader.Type != packets.Pingresp {
			t.Fatalf("got %+v, want PINGRESP", pk.FixedHeader)
		}
	}
	waitParked(t, s, conns+warmed)

	// Two per connection, some slack for the test's own HTTP client.
	const slack = 10
	testkit.Eventually(t, 10*time.Second, "two descriptors per parked connection", func() bool {
		return openDescriptors(t)-before <= 2*conns+slack
	})
	if got := openDescriptors(t) - before; got < 2*conns {
		t.Fatalf("%d descriptors for %d connections: fewer than their clients' and the server's", got, conns)
	}
	testkit.Eventually(t, 10*time.Second, "two epoll registrations per parked connection", func() bool {
		return epollRegistrations(t)-registeredBefore <= 2*conns+slack
	})

	// They all still work.
	httpPublish(t, s.URL, "fd/x", []byte("to each"), "")
	for _, c := range append(streams, warm...) {
		c.receives(t, "to each")
	}
	for _, c := range append(mqtts, warmMQTT...) {
		c.expectPublish("fd/x")
	}
	for _, w := range mqttWS {
		if typ, _ := w.read(t); typ != packets.Publish {
			t.Fatalf("MQTT over WebSocket: type %d, want PUBLISH", typ)
		}
	}
}
