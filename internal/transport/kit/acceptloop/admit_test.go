package acceptloop

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"streamhub/internal/limit"
	"streamhub/internal/ratelog"
)

// An admitted listener, as gortsplib's accept loop sees it, never fails
// while open: out of file descriptors it retries, and a connection over
// limits.peraddress is closed instead of returned. Closed, it fails.
func TestAdmissionRetriesAndLimits(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := ratelog.New(slog.New(slog.NewTextHandler(io.Discard, nil)), time.Hour, 1)
	ln := Admission{Transport: "rtsp", Conns: limit.NewConns(0, 1), Log: log}.Listener(&flakyListener{Listener: inner, fails: 3})
	accepted := make(chan net.Conn)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- nc
		}
	}()
	first := dialT(t, inner.Addr().String())
	var firstServed net.Conn
	select {
	case firstServed = <-accepted:
	case err := <-acceptErr:
		t.Fatalf("Accept failed after EMFILE: %v", err)
	}
	second := dialT(t, inner.Addr().String())
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := second.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("the second connection from one address: %v, want it closed", err)
	}
	firstServed.Close() // gives the address's slot back
	first.Close()
	third := dialT(t, inner.Addr().String())
	defer third.Close()
	select {
	case nc := <-accepted:
		nc.Close()
	case err := <-acceptErr:
		t.Fatalf("Accept failed: %v", err)
	}
	ln.Close()
	if err := <-acceptErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v", err)
	}
}

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func isReset(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se)
}

// An admitted connection half-closes as the socket does: MQTT's
// DISCONNECT and net/http's close end their side and read on, so that
// their last words are not lost to a reset.
func TestAdmittedConnCloseWrite(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Admission{Transport: "mqtt"}.Listener(inner)
	defer ln.Close()
	client := dialT(t, inner.Addr().String())
	served, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	cw, ok := served.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("an admitted connection has no CloseWrite")
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	client.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the client's read after CloseWrite: %v, want EOF", err)
	}
	if _, err := client.Write([]byte("still")); err != nil {
		t.Fatal(err)
	}
	served.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := served.Read(make([]byte, 5)); n != 5 {
		t.Fatalf("the server read %d bytes after its CloseWrite: %v", n, err)
	}
}

// Refusals are answered only while Answering has room: past it a refused
// connection is closed without a word, so that a flood over the limits
// holds no more goroutines and sockets than Answering allows.
func TestAdmissionAnswersBoundedRefusals(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	answering := make(chan struct{}, 1)
	a := Admission{Transport: "tcp-text", Conns: limit.NewConns(0, 1), Answering: answering,
		Refuse: func(nc net.Conn, err error) { io.WriteString(nc, "-ERR too_many_connections\n") }}
	ln := a.Listener(inner)
	defer ln.Close()
	go func() {
		for {
			if _, err := ln.Accept(); err != nil { // the first is kept open: the address's one
				return
			}
		}
	}()
	dialT(t, inner.Addr().String())
	read := func() string {
		c := dialT(t, inner.Addr().String())
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	answering <- struct{}{} // every place taken
	if got := read(); got != "" {
		t.Fatalf("refused while no answer could be given: read %q, want the connection closed", got)
	}
	<-answering
	if got := read(); got != "-ERR too_many_connections\n" {
		t.Fatalf("refused with room to answer: read %q", got)
	}
}

// An admitted connection closed more than once, at once from several
// goroutines (its server and a handler that took it over), gives its slot
// back and is counted as disconnected once.
func TestAdmittedConnReleasesOnce(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer b.Close()
	var released, disconnected atomic.Int32
	c := &admittedConn{Conn: a, release: func() { released.Add(1) }, disconnected: func() { disconnected.Add(1) },
		a: &Admission{Transport: "test"}}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
	if released.Load() != 1 || disconnected.Load() != 1 {
		t.Fatalf("released %d times, counted disconnected %d times; want once each", released.Load(), disconnected.Load())
	}
}
