package server

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/metrics"
	"streamhub/internal/ratelog"
)

// fdExhausted is a listener whose Accept fails as when the process has no
// file descriptor left, fails times, then as a closed listener does.
type fdExhausted struct {
	net.Listener
	fails int
}

func (l *fdExhausted) Accept() (net.Conn, error) {
	if l.fails == 0 {
		return nil, net.ErrClosed
	}
	l.fails--
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

func (*fdExhausted) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }

// TestOutOfFileDescriptorsLogged: the HTTP listener's accepts failing with
// EMFILE are retried, not handed to net/http, and logged as an error once
// per interval rather than once per retry.
func TestOutOfFileDescriptorsLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	m := metrics.New(func() hub.Stats { return hub.Stats{} })
	s := &Server{metrics: m, remote: ratelog.New(slog.New(slog.NewTextHandler(&logs, nil)), time.Hour, 1)}
	l := s.httpAdmission(nil).Listener(&fdExhausted{fails: 5})
	if _, err := l.Accept(); err != net.ErrClosed {
		t.Fatalf("Accept: %v, want the listener's close after the failures", err)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), "out of file descriptors") {
		t.Errorf("%d error lines for 5 failed accepts:\n%s", n, logs.String())
	}
}
