package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"streamhub/internal/testkit"
)

// TestIdleStreamsHoldOneGoroutine: an idle SSE or NDJSON subscriber on
// HTTP/1.1 is taken over after its headers, so it costs one small
// goroutine waiting for the client to go away, not net/http's goroutine
// with its buffers and a writer parked beside it (issue 20: 30 KB → 8 KB
// per idle subscriber).
func TestIdleStreamsHoldOneGoroutine(t *testing.T) {
	s := testkit.Start(t, nil)
	const n = 40
	type stream struct {
		nc net.Conn
		br *bufio.Reader
	}
	open := func(accept string) stream {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "GET /v1/subscribe?topic=idle/x HTTP/1.1\r\nHost: streamhub\r\nAccept: %s\r\n\r\n", accept)
		br := bufio.NewReader(nc)
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		status, err := br.ReadString('\n')
		if err != nil || !strings.Contains(status, " 200 ") {
			t.Fatalf("%s: %q %v", accept, status, err)
		}
		for { // the head, then the stream's opening block
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
		}
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		return stream{nc, br}
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	var streams []stream
	for i := range n {
		accept := "text/event-stream"
		if i%2 == 1 {
			accept = "application/x-ndjson"
		}
		streams = append(streams, open(accept))
	}
	var during int
	testkit.Eventually(t, 5*time.Second, "goroutines to settle", func() bool {
		during = runtime.NumGoroutine()
		return during-before <= n+n/4
	})
	// Still live: a message reaches every stream.
	httpPublish(t, s.URL, "idle/x", []byte("wake"), "")
	for i, st := range streams {
		st.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			l, err := st.br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			if strings.Contains(l, "wake") {
				break
			}
		}
	}
	for _, st := range streams {
		st.nc.Close()
	}
	http.DefaultClient.CloseIdleConnections() // the publish's keep-alive connection
	testkit.Eventually(t, 10*time.Second, "streams released", func() bool {
		return runtime.NumGoroutine() <= before+2
	})
}

// TestIdleWebSocketsWaitOnAFreshGoroutine: an idle WebSocket's reader waits
// for input on a small goroutine of its own, not parked inside the frame
// reader with the stack its set-up grew (issue 20: 11.6 KB per idle socket);
// input wakes it, and it waits again afterwards.
func TestIdleWebSocketsWaitOnAFreshGoroutine(t *testing.T) {
	s := testkit.Start(t, nil)
	const n = 20
	runtime.GC()
	before := runtime.NumGoroutine()
	type socket struct {
		nc net.Conn
		br *bufio.Reader
	}
	var sockets []socket
	for i := range n {
		path := "/v1/ws/idle/ws"
		if i%2 == 1 {
			path = "/v1/ws" // the JSON protocol, subscribed to nothing
		}
		nc, br := rawWebSocket(t, s.Addr(), path)
		sockets = append(sockets, socket{nc, br})
	}
	waitingInFrameReader := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "wsconn.(*Conn).Read(")
	}
	testkit.Eventually(t, 5*time.Second, "idle sockets to wait outside the frame reader", func() bool {
		return waitingInFrameReader() == 0 && runtime.NumGoroutine()-before <= n+n/4
	})
	// Input wakes a socket: a publish on the first reaches every plain one.
	frame := ws.NewTextFrame([]byte("wake"))
	frame = ws.MaskFrameInPlace(frame)
	if err := ws.WriteFrame(sockets[0].nc, frame); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 2 {
		sockets[i].nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		f, err := ws.ReadFrame(sockets[i].br)
		if err != nil || string(f.Payload) != "wake" {
			t.Fatalf("socket %d: %q %v", i, f.Payload, err)
		}
	}
	testkit.Eventually(t, 5*time.Second, "the woken socket to wait again", func() bool {
		return waitingInFrameReader() == 0
	})
	for _, sk := range sockets {
		sk.nc.Close()
	}
	testkit.Eventually(t, 10*time.Second, "sockets released", func() bool {
		return runtime.NumGoroutine() <= before+2
	})
}
