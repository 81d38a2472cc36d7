package acceptloop

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/ratelog"
)

// flakyListener fails its first accepts with EMFILE, as a process out of
// file descriptors does, then accepts normally.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func TestKeepsAcceptingAfterRunningOutOfFiles(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &flakyListener{Listener: inner, fails: 3}
	var buf bytes.Buffer
	var bufMu sync.Mutex
	log := ratelog.New(slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &bufMu}, nil)), time.Hour, 1)
	accepted := make(chan net.Conn, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ln, log, "mqtt", func(nc net.Conn) { accepted <- nc })
	}()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case nc := <-accepted:
		nc.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the listener stopped accepting after EMFILE")
	}
	inner.Close()
	<-done
	bufMu.Lock()
	defer bufMu.Unlock()
	if n := strings.Count(buf.String(), "out of file descriptors"); n != 1 {
		t.Fatalf("want one rate-limited error line, got %d:\n%s", n, buf.String())
	}
	if !OutOfFiles(errors.Join(syscall.ENFILE)) {
		t.Fatal("ENFILE is out of files too")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
