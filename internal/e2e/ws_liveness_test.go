package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// rawWebSocket opens a WebSocket on path with a raw socket, for tests that
// send what no client library would.
func rawWebSocket(t *testing.T, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade of %s: %v %v", path, resp, err)
	}
	return nc, br
}

// TestWebSocketUnansweredPings: a peer that stops mid-frame (8 MiB - 100
// declared, 3 bytes sent) and answers no ping is disconnected.
func TestWebSocketUnansweredPings(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.WS.Heartbeat = 50 * time.Millisecond })
	for _, path := range []string{"/v1/ws/stalled", "/v1/ws"} {
		nc, br := rawWebSocket(t, s.Addr(), path)
		hdr := ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 8<<20 - 100, Mask: [4]byte{1, 2, 3, 4}}
		if err := ws.WriteHeader(nc, hdr); err != nil {
			t.Fatal(err)
		}
		io.WriteString(nc, "abc")
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := io.Copy(io.Discard, br) // pings, until the server hangs up
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: a peer answering no ping was still connected after 30 s", path)
		}
	}
}
