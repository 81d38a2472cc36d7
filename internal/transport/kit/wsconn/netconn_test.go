package wsconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestServerHasOneWebSocketLibrary: the server side of every WebSocket
// route, /mqtt included, is this package (gobwas/ws); coder/websocket stays
// a client library (CLI, bench, tests, and the MQTT bridges dialling a
// ws:// broker), so no transport may import it.
func TestServerHasOneWebSocketLibrary(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "streamhub/internal/transport/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "github.com/coder/websocket") {
		t.Error("a transport imports github.com/coder/websocket")
	}
}

// streamServer serves one WebSocket as a NetConn through serve, and
// returns the address to dial.
func streamServer(t *testing.T, serve func(*NetConn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, Options{Protocols: []string{"mqtt", "mqttv3.1"}})
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 10)
		nc := c.NetConn(r.TLS)
		defer nc.Close()
		serve(nc)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dialStream(t *testing.T, url string, protocols ...string) (net.Conn, ws.Handshake) {
	t.Helper()
	nc, _, hs, err := ws.Dialer{Protocols: protocols, Timeout: 5 * time.Second}.Dial(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc, hs
}

// TestNetConnStream: bytes cross frame boundaries both ways (a packet split
// over two frames, two packets in one), pings are answered on the way, each
// Write is one binary frame, the subprotocol is negotiated, and the peer's
// close ends reading with io.EOF.
func TestNetConnStream(t *testing.T) {
	t.Parallel()
	readErr := make(chan error, 1)
	url := streamServer(t, func(nc *NetConn) {
		got := make([]byte, 10)
		if _, err := io.ReadFull(nc, got); err != nil || string(got) != "0123456789" {
			readErr <- errors.New("read " + string(got))
			return
		}
		nc.Write([]byte("one"))
		nc.Write([]byte("two"))
		_, err := nc.Read(got)
		readErr <- err
	})
	nc, hs := dialStream(t, url, "mqttv3.1", "mqtt")
	if hs.Protocol != "mqttv3.1" {
		t.Errorf("subprotocol %q, want the client's first accepted", hs.Protocol)
	}
	wsutil.WriteClientBinary(nc, []byte("0123"))
	wsutil.WriteClientMessage(nc, ws.OpPing, []byte("p"))
	wsutil.WriteClientBinary(nc, []byte("456789"))
	var frames []string
	for len(frames) < 2 {
		f, err := ws.ReadFrame(nc)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Header.OpCode == ws.OpPong && string(f.Payload) == "p":
		case f.Header.OpCode == ws.OpBinary && f.Header.Fin:
			frames = append(frames, string(f.Payload))
		default:
			t.Fatalf("unexpected frame %+v %q", f.Header, f.Payload)
		}
	}
	if frames[0] != "one" || frames[1] != "two" {
		t.Errorf("frames %q, want one per write", frames)
	}
	wsutil.WriteClientMessage(nc, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	if err := <-readErr; err != io.EOF {
		t.Errorf("after the peer's close, Read gave %v, want io.EOF", err)
	}
}

// TestNetConnRefusesText: MQTT over WebSocket is binary; a text message
// closes with 1003 and fails the read.
func TestNetConnRefusesText(t *testing.T) {
	t.Parallel()
	readErr := make(chan error, 1)
	url := streamServer(t, func(nc *NetConn) {
		_, err := nc.Read(make([]byte, 8))
		readErr <- err
	})
	nc, _ := dialStream(t, url, "mqtt")
	wsutil.WriteClientText(nc, []byte("hello"))
	f, err := ws.ReadFrame(nc)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := ws.ParseCloseFrameData(f.Payload)
	if f.Header.OpCode != ws.OpClose || code != ws.StatusUnsupportedData {
		t.Errorf("got %v %v, want close 1003", f.Header.OpCode, code)
	}
	if err := <-readErr; !errors.Is(err, errNotBinary) {
		t.Errorf("read gave %v", err)
	}
}

// TestNetConnReadLimit: a message over the read limit closes with 1009.
func TestNetConnReadLimit(t *testing.T) {
	t.Parallel()
	url := streamServer(t, func(nc *NetConn) { nc.Read(make([]byte, 8)) })
	nc, _ := dialStream(t, url, "mqtt")
	wsutil.WriteClientBinary(nc, bytes.Repeat([]byte{1}, 2<<10))
	f, err := ws.ReadFrame(nc)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusMessageTooBig {
		t.Errorf("got %v %v, want close 1009", f.Header.OpCode, code)
	}
}

// TestNetConnDrained: a stream is drained once what arrived was read (its
// read buffer then given back), not while a message's rest or a second
// frame is still in memory.
func TestNetConnDrained(t *testing.T) {
	t.Parallel()
	type state struct {
		drained, bare bool
	}
	states := make(chan state, 3)
	url := streamServer(t, func(nc *NetConn) {
		p := make([]byte, 4)
		io.ReadFull(nc, p) // "abcd" of the first message "abcdef"
		states <- state{nc.Drained(), nc.c.in.r == nil}
		io.ReadFull(nc, p[:2]) // "ef"; the second message is buffered with it
		states <- state{nc.Drained(), nc.c.in.r == nil}
		io.ReadFull(nc, p[:3]) // "ghi": all read
		states <- state{nc.Drained(), nc.c.in.r == nil}
	})
	c, _ := dialStream(t, url, "mqtt")
	var frames bytes.Buffer
	wsutil.WriteClientBinary(&frames, []byte("abcdef"))
	wsutil.WriteClientBinary(&frames, []byte("ghi"))
	if _, err := c.Write(frames.Bytes()); err != nil { // both frames in one write
		t.Fatal(err)
	}
	for i, want := range []state{{false, false}, {false, false}, {true, true}} {
		select {
		case got := <-states:
			if got.drained != want.drained || got.drained && !got.bare {
				t.Fatalf("step %d: drained %v (read buffer given back %v), want %v", i, got.drained, got.bare, want.drained)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("step %d: no state", i)
		}
	}
}

// TestNetConnDropsSpentMessage: once a message's bytes are all read, the
// stream holds nothing of it (an empty rest still held the message's
// array: an idle MQTT-over-WebSocket connection kept its last packet).
func TestNetConnDropsSpentMessage(t *testing.T) {
	t.Parallel()
	held := make(chan bool, 2) // whether rest points into an array
	url := streamServer(t, func(nc *NetConn) {
		p := make([]byte, 4)
		io.ReadFull(nc, p[:2]) // "ab" of "abcd"
		held <- nc.rest != nil
		io.ReadFull(nc, p[:2]) // "cd": the message is spent
		held <- nc.rest != nil
	})
	c, _ := dialStream(t, url, "mqtt")
	if err := wsutil.WriteClientBinary(c, []byte("abcd")); err != nil {
		t.Fatal(err)
	}
	for i, spent := range []bool{false, true} {
		select {
		case h := <-held:
			if spent == h {
				t.Fatalf("step %d: rest holds the message's array %v, want %v", i, h, !spent)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("step %d: no state", i)
		}
	}
}
