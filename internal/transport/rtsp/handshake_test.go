package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"streamhub/internal/media"
)

// startTestServer serves RTSP on a free loopback port with the given
// timeout and an empty path registry.
func startTestServer(t *testing.T, timeout time.Duration) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s := New(Config{Addr: "127.0.0.1:0", Timeout: timeout}, media.New(media.Config{}, nil, nil, log), log)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// dialSending connects to addr and sends raw; the test closes it.
func dialSending(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedWithin reports whether the server closes c within limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestHandshakeTimeoutRefusesGarbage: a peer that sends an incomplete or
// garbage request line and then nothing is cut off after the listener's
// timeout, not held for gortsplib's 60 s idle timeout.
func TestHandshakeTimeoutRefusesGarbage(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	s := startTestServer(t, timeout)
	for name, raw := range map[string]string{
		"nothing":           "",
		"garbage":           "\x16\x03\x01garbage without a line end",
		"incomplete line":   "OPTIONS rtsp://127.0.0.1/live/cam1 RTS",
		"incomplete header": "OPTIONS rtsp://127.0.0.1/live/cam1 RTSP/1.0\r\nCSeq: 1\r\n",
		"incomplete body": "ANNOUNCE rtsp://127.0.0.1/live/cam1 RTSP/1.0\r\nCSeq: 1\r\n" +
			"Content-Type: application/sdp\r\nContent-Length: 100\r\n\r\nv=0\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := dialSending(t, s.Addr(), raw)
			if !closedWithin(t, c, 10*timeout) {
				t.Fatalf("connection still open %v after %q", 10*timeout, raw)
			}
		})
	}
}

// TestHandshakeTimeoutSparesSessions: once a complete request has been
// read, the connection keeps gortsplib's idle timeout (a player between
// requests is not cut off by the short handshake bound).
func TestHandshakeTimeoutSparesSessions(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	s := startTestServer(t, timeout)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "OPTIONS rtsp://"+s.Addr()+"/live/cam1 RTSP/1.0\r\nCSeq: 1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("OPTIONS: %q %v", status, err)
	}
	if closedWithin(t, c, 8*timeout) {
		t.Fatal("connection closed by the handshake bound after a complete request")
	}
}

// TestHandshakeScanSplitHeaderEnd: the header end is found however the
// reads split it, and not before it is complete.
func TestHandshakeScanSplitHeaderEnd(t *testing.T) {
	t.Parallel()
	req := []byte("OPTIONS rtsp://h/p RTSP/1.0\r\nCSeq: 1\r\n\r\n")
	for cut := 1; cut < len(req); cut++ {
		for cut2 := cut; cut2 < len(req); cut2++ {
			c := &handshakeConn{Conn: nopConn{}, body: -1}
			for _, part := range [][]byte{req[:cut], req[cut:cut2]} {
				c.scan(part)
			}
			if c.done {
				t.Fatalf("done before the header end (cuts %d %d)", cut, cut2)
			}
			c.scan(req[cut2:])
			if !c.done {
				t.Fatalf("header end missed (cuts %d %d)", cut, cut2)
			}
		}
	}
}

// nopConn is a net.Conn whose deadline calls succeed.
type nopConn struct{ net.Conn }

func (nopConn) SetReadDeadline(time.Time) error { return nil }

// FuzzHandshakeScan: fed in any two pieces, the scan ends the handshake
// phase exactly when the bytes so far hold a whole first request.
func FuzzHandshakeScan(f *testing.F) {
	f.Add([]byte("OPTIONS rtsp://h/p RTSP/1.0\r\nCSeq: 1\r\n\r\n"), 38)
	f.Add([]byte("ANNOUNCE rtsp://h/p RTSP/1.0\r\ncontent-length: 3\r\n\r\nv=0"), 50)
	f.Add([]byte("\x16\x03\x01garbage"), 3)
	f.Add([]byte("GET / HTTP/1.1\r\n\r"), 17)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		cut = min(max(cut, 0), len(in))
		c := &handshakeConn{Conn: nopConn{}, body: -1}
		c.scan(in[:cut])
		if c.done != wholeRequest(in[:cut]) {
			t.Fatalf("%q: done %v", in[:cut], c.done)
		}
		c.scan(in[cut:])
		if c.done != wholeRequest(in) {
			t.Fatalf("%q cut at %d: done %v", in, cut, c.done)
		}
	})
}

// wholeRequest: b starts with a complete request, header and body.
func wholeRequest(b []byte) bool {
	i := bytes.Index(b, headerEnd)
	return i >= 0 && len(b)-i-len(headerEnd) >= contentLength(b[:i])
}

// TestHandshakeContentLength: the body length comes from the header
// whatever the name's case; absent or unreadable counts as none.
func TestHandshakeContentLength(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]int{
		"ANNOUNCE x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 120":       120,
		"ANNOUNCE x RTSP/1.0\r\ncontent-length:7":                     7,
		"OPTIONS x RTSP/1.0\r\nCSeq: 1":                               0,
		"ANNOUNCE x RTSP/1.0\r\nContent-Length: -5":                   0,
		"ANNOUNCE x RTSP/1.0\r\nContent-Length: 99999999999999999999": 0,
	} {
		if got := contentLength([]byte(header)); got != want {
			t.Errorf("%q: %d, want %d", header, got, want)
		}
	}
}
