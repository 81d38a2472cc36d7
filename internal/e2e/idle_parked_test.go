package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// gaugeValue reads one series of the server's metrics, 0 when absent.
func gaugeValue(t *testing.T, base, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape(t, base))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// idleClient is a raw HTTP/1.1 subscriber: an SSE or NDJSON stream, or a
// plain or JSON WebSocket.
type idleClient struct {
	kind string
	nc   net.Conn
	br   *bufio.Reader
}

// openStream opens an SSE or NDJSON subscription to topic and reads past
// its head and opening block.
func openStream(t *testing.T, addr, accept, topic string) idleClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET /v1/subscribe?topic=%s HTTP/1.1\r\nHost: streamhub\r\nAccept: %s\r\n\r\n", topic, accept)
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %v %v", accept, resp, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the opening block's first line
		t.Fatal(err)
	}
	return idleClient{accept, nc, br}
}

// openSocket opens a plain WebSocket on topic, or a JSON one subscribed
// to it, its subscription acknowledged.
func openSocket(t *testing.T, addr, kind, topic string) idleClient {
	t.Helper()
	if kind == "ws" {
		nc, br := rawWebSocket(t, addr, "/v1/ws/"+topic)
		return idleClient{kind, nc, br}
	}
	nc, br := rawWebSocket(t, addr, "/v1/ws")
	sub := ws.MaskFrameInPlace(ws.NewTextFrame([]byte(`{"op":"sub","id":"1","topics":["` + topic + `"]}`)))
	if err := ws.WriteFrame(nc, sub); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := ws.ReadFrame(br)
	if err != nil || !strings.Contains(string(f.Payload), `"id":"1"`) {
		t.Fatalf("JSON subscribe: %q %v", f.Payload, err)
	}
	return idleClient{kind, nc, br}
}

// receives waits for payload on c.
func (c idleClient) receives(t *testing.T, payload string) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var got string
		if c.kind == "ws" || c.kind == "ws-json" {
			f, err := ws.ReadFrame(c.br)
			if err != nil {
				t.Fatalf("%s: %v", c.kind, err)
			}
			got = string(f.Payload)
		} else {
			l, err := c.br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", c.kind, err)
			}
			got = l
		}
		if strings.Contains(got, payload) {
			return
		}
	}
}

// TestIdleSubscribersParked: idle SSE, NDJSON, plain and JSON WebSocket
// subscribers on HTTP/1.1 wait parked in the idle poller, with no
// goroutine (streamhub_connections_parked counts them); a publish wakes
// and reaches every one, and they park again; clients that go away while
// parked leave nothing behind (issue 29).
func TestIdleSubscribersParked(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	const each = 5
	var clients []idleClient
	for range each {
		clients = append(clients,
			openStream(t, s.Addr(), "text/event-stream", "parked/x"),
			openStream(t, s.Addr(), "application/x-ndjson", "parked/x"),
			openSocket(t, s.Addr(), "ws", "parked/x"),
			openSocket(t, s.Addr(), "ws-json", "parked/x"))
	}
	n := float64(len(clients))
	parked := func() float64 { return gaugeValue(t, s.URL, "streamhub_connections_parked") }
	testkit.Eventually(t, 10*time.Second, "every idle subscriber parked", func() bool { return parked() == n })

	httpPublish(t, s.URL, "parked/x", []byte("wake-all"), "")
	for _, c := range clients {
		c.receives(t, "wake-all")
	}
	// A publish from a parked plain socket wakes its reader, which parks
	// again once the frame is handled.
	pub := ws.MaskFrameInPlace(ws.NewTextFrame([]byte("from-a-socket")))
	if err := ws.WriteFrame(clients[2].nc, pub); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.receives(t, "from-a-socket")
	}
	testkit.Eventually(t, 10*time.Second, "subscribers parked again", func() bool { return parked() == n })

	for _, c := range clients {
		c.nc.Close()
	}
	testkit.Eventually(t, 10*time.Second, "departed subscribers released", func() bool {
		var got struct{ Clients []adminClient }
		adminGet(t, s, "clients", &got)
		return parked() == 0 && len(got.Clients) == 0 &&
			gaugeValue(t, s.URL, `streamhub_connections{transport="sse"}`) == 0 &&
			gaugeValue(t, s.URL, `streamhub_connections{transport="ndjson"}`) == 0 &&
			gaugeValue(t, s.URL, `streamhub_connections{transport="ws"}`) == 0
	})
}

// TestKickParkedWebSocket: an administrator's kick reaches a parked plain
// or JSON WebSocket, which gets its close code (4000), is hung up on
// whether its client answers the close or not, and leaves the list; a
// parked SSE stream gets its close event.
func TestKickParkedWebSocket(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	for _, kind := range []string{"ws", "ws-json"} {
		topic := "kickparked/" + strings.ReplaceAll(kind, "-", "")
		c := openSocket(t, s.Addr(), kind, topic)
		victim := waitClient(t, s, "ws", topic)
		testkit.Eventually(t, 10*time.Second, kind+" parked", func() bool {
			return gaugeValue(t, s.URL, "streamhub_connections_parked") == 1
		})
		kick(t, s, victim.ID)
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			f, err := ws.ReadFrame(c.br)
			if err != nil {
				t.Fatalf("%s: no close frame: %v", kind, err)
			}
			if f.Header.OpCode != ws.OpClose {
				continue
			}
			if code, _ := ws.ParseCloseFrameData(f.Payload); code != 4000 {
				t.Fatalf("%s: close code %d, want 4000", kind, code)
			}
			break
		}
		if kind == "ws" {
			// Answer the close: the answer wakes the server's reader,
			// which ends the socket.
			answer := ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(4000, "")))
			if err := ws.WriteFrame(c.nc, answer); err != nil {
				t.Fatal(err)
			}
		}
		// Answered or not (the server gives up waiting after 5 s), the
		// server hangs up.
		c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.Copy(io.Discard, c.br); err != nil {
			t.Fatalf("%s: the server did not hang up: %v", kind, err)
		}
		testkit.Eventually(t, 10*time.Second, kind+" released", func() bool {
			return !clientListed(t, s, victim.ID) && gaugeValue(t, s.URL, "streamhub_connections_parked") == 0 &&
				gaugeValue(t, s.URL, `streamhub_connections{transport="ws"}`) == 0
		})
	}

	c := openStream(t, s.Addr(), "text/event-stream", "kickparked/sse")
	victim := waitClient(t, s, "sse", "kickparked/sse")
	testkit.Eventually(t, 10*time.Second, "sse parked", func() bool {
		return gaugeValue(t, s.URL, "streamhub_connections_parked") == 1
	})
	kick(t, s, victim.ID)
	c.receives(t, `"reason":"kicked"`)
	testkit.Eventually(t, 10*time.Second, "sse released", func() bool {
		return !clientListed(t, s, victim.ID) && gaugeValue(t, s.URL, "streamhub_connections_parked") == 0
	})
}

// corkedConn holds its writes while corked and sends them in one write
// when uncorked: TLS records written meanwhile reach the server together.
type corkedConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	held   []byte
}

func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkedConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	_, err := c.Conn.Write(c.held)
	c.held = nil
	return err
}

// TestTLSWebSocketReadAheadNotLost: two frames in two TLS records reach a
// parked wss:// socket in one TCP segment; crypto/tls reads both records
// from the socket when its reader asks for the first, so the second is in
// memory, not on the socket, when the reader is about to park again. It
// must still be read (and published) before the socket parks.
func TestTLSWebSocketReadAheadNotLost(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) { c.HTTP.Cert, c.HTTP.Key = certFile, keyFile })
	raw, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cc := &corkedConn{Conn: raw}
	tc := tls.Client(cc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	t.Cleanup(func() { tc.Close() })
	fmt.Fprintf(tc, "GET /v1/ws/readahead/x HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", s.Addr())
	br := bufio.NewReader(tc)
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	// The frames come together, each in a record of its own: whether
	// they find the socket parked or about to park, the reader takes the
	// first from a read that brings both into crypto/tls's buffer.
	cc.cork()
	for _, p := range []string{"first", "second"} {
		if err := ws.WriteFrame(tc, ws.MaskFrameInPlace(ws.NewTextFrame([]byte(p)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := cc.uncork(); err != nil {
		t.Fatal(err)
	}
	// The socket is subscribed to its own topic: both come back.
	for _, want := range []string{"first", "second"} {
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		f, err := ws.ReadFrame(br)
		if err != nil || string(f.Payload) != want {
			t.Fatalf("read %q, %v; want %q", f.Payload, err, want)
		}
	}
}

// TestWebSocketControlFramesParkAgain: a parked plain or JSON WebSocket
// whose client sends pings and pongs (a client answering the server's
// pings) parks again once they are handled, instead of keeping a
// goroutine waiting for its next message (issue 29: idle sockets grew
// from 2.3 to 6.8 KB each after the first round of pings); the pings get
// their pongs, and a publish still reaches it.
func TestWebSocketControlFramesParkAgain(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	clients := []idleClient{openSocket(t, s.Addr(), "ws", "ctlpark/x"), openSocket(t, s.Addr(), "ws-json", "ctlpark/x")}
	parked := func() float64 { return gaugeValue(t, s.URL, "streamhub_connections_parked") }
	testkit.Eventually(t, 10*time.Second, "sockets parked", func() bool { return parked() == 2 })
	for round := range 3 {
		for _, c := range clients {
			ping := ws.MaskFrameInPlace(ws.NewPingFrame([]byte(fmt.Sprint("p", round))))
			pong := ws.MaskFrameInPlace(ws.NewPongFrame(nil))
			if err := ws.WriteFrame(c.nc, pong); err != nil {
				t.Fatal(err)
			}
			if err := ws.WriteFrame(c.nc, ping); err != nil {
				t.Fatal(err)
			}
			c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				f, err := ws.ReadFrame(c.br)
				if err != nil {
					t.Fatalf("%s: no pong: %v", c.kind, err)
				}
				if f.Header.OpCode == ws.OpPong && string(f.Payload) == fmt.Sprint("p", round) {
					break
				}
			}
		}
		testkit.Eventually(t, 10*time.Second, "sockets parked again after control frames", func() bool { return parked() == 2 })
	}
	httpPublish(t, s.URL, "ctlpark/x", []byte("after-pings"), "")
	for _, c := range clients {
		c.receives(t, "after-pings")
	}
}
