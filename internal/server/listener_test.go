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
// file descriptor left.
type fdExhausted struct{ net.Listener }

func (fdExhausted) Accept() (net.Conn, error) {
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

func (fdExhausted) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }

// TestOutOfFileDescriptorsLogged: accept failing with EMFILE is logged as an
// error, once per interval rather than once per retry.
func TestOutOfFileDescriptorsLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	m := metrics.New(func() hub.Stats { return hub.Stats{} })
	l := &countedListener{Listener: fdExhausted{}, meter: m.Transport("http"), log: ratelog.New(slog.New(slog.NewTextHandler(&logs, nil)), time.Hour, 1)}
	for range 100 {
		if _, err := l.Accept(); err == nil {
			t.Fatal("Accept succeeded")
		}
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), "out of file descriptors") {
		t.Errorf("%d error lines for 100 failed accepts:\n%s", n, logs.String())
	}
}
