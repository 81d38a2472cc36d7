package rtsp

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRefuse: a connection over the limits reads RTSP's 503 with its
// request's CSeq (a CSeq that is not a number is not echoed), and a
// tunnel's HTTP request reads HTTP's.
func TestRefuse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ request, want string }{
		{"OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 3\r\n\r\n", "RTSP/1.0 503 Service Unavailable\r\nCSeq: 3\r\n"},
		{"DESCRIBE rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\nX: y\r\n\r\n", "RTSP/1.0 503 Service Unavailable\r\nCSeq: 1\r\n"},
		{"OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 3\r\nInjected: x\r\n\r\n", "CSeq: 3\r\nRetry-After"},
		{"OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 3x\r\n\r\n", "CSeq: 0\r\n"},
		{"GET /cam HTTP/1.0\r\nx-sessioncookie: a\r\n\r\n", "HTTP/1.1 503 Service Unavailable\r\n"},
	} {
		client, server := net.Pipe()
		server.SetDeadline(time.Now().Add(5 * time.Second))
		client.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			refuse(server, errors.New("too many connections from this address"))
			server.Close()
		}()
		go io.WriteString(client, c.request)
		got, _ := io.ReadAll(client)
		if !strings.Contains(string(got), c.want) {
			t.Errorf("%q answered %q, want %q in it", c.request, got, c.want)
		}
	}
}
