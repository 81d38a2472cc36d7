package rtsp

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"streamhub/internal/transport/kit/httpx"
)

// TestWebSocketTunnelRefused: a raw client asking for RTSP over WebSocket
// (as gortsplib's own client does) gets 501 with a JSON error and the
// connection closed, never an upgrade after which one message could take
// all the memory it sends, nor a crash.
func TestWebSocketTunnelRefused(t *testing.T) {
	t.Parallel()
	s := startTestServer(t, 10*time.Second)
	for name, upgrade := range map[string]string{
		"crlf": "GET /live/cam1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Protocol: rtsp.onvif.org\r\n\r\n",
		"lf and lower case": "GET /live/cam1 HTTP/1.1\nhost: h\nupgrade: websocket\nconnection: upgrade\n" +
			"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\nsec-websocket-version: 13\n" +
			"sec-websocket-protocol: rtsp.onvif.org\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The request and the start of a 1 GiB binary message in one
			// write: before, gortsplib's refusal of data sent ahead of the
			// upgrade panicked and took the whole server down.
			c := dialSending(t, s.Addr(), upgrade+"\x82\x7f\x00\x00\x00\x00\x40\x00\x00\x00\x01\x02\x03\x04")
			c.SetDeadline(time.Now().Add(10 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			defer res.Body.Close()
			var body httpx.ErrorBody
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("%s: body: %v", res.Status, err)
			}
			if res.StatusCode != http.StatusNotImplemented || !strings.Contains(body.Error.Message, "WebSocket") {
				t.Fatalf("want 501 naming WebSocket, got %s %+v", res.Status, body)
			}
			if !closedWithin(t, c, 10*time.Second) {
				t.Fatal("the server kept the connection open")
			}
		})
	}
}

// TestTunnelFilterPassesTheRest: RTSP requests, the HTTP tunnel's GET
// and POST, and a header that names "upgrade" elsewhere pass untouched.
func TestTunnelFilterPassesTheRest(t *testing.T) {
	for _, first := range []string{
		"OPTIONS rtsp://h/live/cam1 RTSP/1.0\r\nCSeq: 1\r\nUpgrade: x\r\n\r\n",
		"GET_PARAMETER rtsp://h/live/cam1 RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		"GET /live/cam1 HTTP/1.0\r\nAccept: application/x-rtsp-tunnelled\r\nX-Sessioncookie: upgrade\r\n\r\n",
		"GET /upgrade HTTP/1.0\r\nAccept: application/x-rtsp-tunnelled\r\n\r\nUpgrade: in the body",
		"POST /live/cam1 HTTP/1.0\r\nContent-Type: application/x-rtsp-tunnelled\r\nUpgrade: websocket\r\n\r\n",
	} {
		var f tunnelFilter
		for i := range len(first) {
			if err := f.check([]byte{first[i]}); err != nil {
				t.Fatalf("%q refused at byte %d: %v", first, i, err)
			}
		}
	}
	var f tunnelFilter
	err := f.check([]byte("GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHandshakeHeader)))
	if !errors.Is(err, errHTTPHeaderLong) {
		t.Fatalf("an endless HTTP header: want errHTTPHeaderLong, got %v", err)
	}
}

// FuzzTunnelFilter: fed in any two pieces, the filter reaches the verdict
// it reaches fed at once.
func FuzzTunnelFilter(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), 20)
	f.Add([]byte("GET / HTTP/1.1\nx: 1\nUPGRADE: websocket\n\n"), 23)
	f.Add([]byte("GET / HTTP/1.0\r\nAccept: application/x-rtsp-tunnelled\r\n\r\n\nupgrade"), 40)
	f.Add([]byte("OPTIONS rtsp://h/p RTSP/1.0\r\nCSeq: 1\r\n\r\n"), 2)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		cut = min(max(cut, 0), len(in))
		var whole, pieces tunnelFilter
		want := whole.check(in)
		got := pieces.check(in[:cut])
		if got == nil {
			got = pieces.check(in[cut:])
		}
		if !errors.Is(got, want) {
			t.Fatalf("%q: at once %v, cut at %d %v", in, want, cut, got)
		}
	})
}
