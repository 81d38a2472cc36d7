//go:build linux

package sockconn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/testkit/poll"
)

// listen is a Listener on loopback, closed at the test's end.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(ln)
	t.Cleanup(func() { l.Close() })
	return l
}

// pair is an accepted Conn s and its client c (net's).
func pair(t testing.TB, l net.Listener) (*Conn, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s := nc.(*Conn)
	t.Cleanup(func() { s.Close(); c.Close() })
	// Bound every blocking call of the test: a stuck one fails.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return s, c
}

// goWait runs f and returns a channel with its result.
func goWait[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

// waitPromoted waits until a call of another goroutine promoted s (the
// test's bound ends it if none does).
func waitPromoted(t *testing.T, s *Conn) {
	t.Helper()
	poll.Eventually(t, poll.MinWait, "a promotion", s.Promoted)
}

type ioResult struct {
	n   int
	err error
}

func TestAddresses(t *testing.T) {
	l := listen(t)
	s, c := pair(t, l)
	if got, want := s.RemoteAddr().String(), c.LocalAddr().String(); got != want {
		t.Fatalf("remote %s, want %s", got, want)
	}
	if got, want := s.LocalAddr().String(), c.RemoteAddr().String(); got != want {
		t.Fatalf("local %s, want %s", got, want)
	}
}

func TestReadWriteDemotedAndPromoted(t *testing.T) {
	l := listen(t)
	s, c := pair(t, l)
	buf := make([]byte, 64)

	// Demoted: input there, read at once without promoting.
	c.Write([]byte("ping"))
	n, err := io.ReadAtLeast(s, buf, 4)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:4]) != "pong" {
		t.Fatalf("client read %q, %v", buf[:4], err)
	}

	// A read that must wait promotes and is answered through net.
	got := goWait(func() ioResult { n, err := s.Read(buf); return ioResult{n, err} })
	waitPromoted(t, s)
	c.Write([]byte("later"))
	r := poll.Receive(t, got, "read")
	if r.err != nil || string(buf[:r.n]) != "later" {
		t.Fatalf("read %q, %v", buf[:r.n], r.err)
	}
	if !s.Promoted() {
		t.Fatal("a read that waited did not promote")
	}
	s.Demote()
	if s.Promoted() {
		t.Fatal("still promoted after Demote")
	}

	// A write larger than the socket takes promotes and completes.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	wrote := goWait(func() ioResult { n, err := s.Write(big); return ioResult{n, err} })
	back := make([]byte, len(big))
	if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, big) {
		t.Fatalf("client read the big write: %v", err)
	}
	if r := poll.Receive(t, wrote, "big write"); r.err != nil || r.n != len(big) {
		t.Fatalf("wrote %d, %v", r.n, r.err)
	}
	s.Demote()

	// EOF demoted and promoted.
	c.(*net.TCPConn).CloseWrite()
	if n, err := s.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer's FIN: %d, %v", n, err)
	}
}

func TestDeadlinesAcrossPromotion(t *testing.T) {
	l := listen(t)
	s, c := pair(t, l)
	buf := make([]byte, 16)

	// Demoted, a deadline already past fails at once.
	s.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v", err)
	}
	var ne net.Error
	if _, err := s.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("not a timeout: %v", err)
	}
	// A deadline ahead ends a read that waits (promoted).
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiting read past its deadline: %v", err)
	}
	// A deadline set on a waiting read (another goroutine) ends it.
	s.SetReadDeadline(time.Time{})
	got := goWait(func() ioResult { n, err := s.Read(buf); return ioResult{n, err} })
	waitPromoted(t, s)
	s.SetReadDeadline(time.Now())
	if r := poll.Receive(t, got, "read ended by its deadline"); !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v", r.err)
	}
	// Demoted again, the deadline kept; cleared, reads go on.
	s.Demote()
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("demoted read past the deadline set promoted: %v", err)
	}
	s.SetReadDeadline(time.Time{})
	c.Write([]byte("x"))
	if n, err := s.Read(buf); err != nil || n != 1 {
		t.Fatalf("read %d, %v", n, err)
	}
	// Demoted, a deadline set, then a wait: the promoted conn has it.
	s.Demote()
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("promoted read past a deadline set demoted: %v", err)
	}

	// Writes: a peer that reads nothing fills the socket; the deadline
	// ends the write that waits.
	s.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := s.Write(make([]byte, 32<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 32<<20 {
		t.Fatalf("write to a full socket: %d, %v", n, err)
	}
}

// TestCloseDuringBlockedCalls: a Close from another goroutine ends a
// waiting Read and Write, and the descriptor number, reused at once by
// new sockets, never carries the closed connection's bytes.
func TestCloseDuringBlockedCalls(t *testing.T) {
	l := listen(t)
	for round := range 20 {
		s, c := pair(t, l)
		read := goWait(func() ioResult { n, err := s.Read(make([]byte, 8)); return ioResult{n, err} })
		write := goWait(func() ioResult { n, err := s.Write(make([]byte, 32<<20)); return ioResult{n, err} })
		for !s.Promoted() {
			time.Sleep(time.Millisecond)
		}
		if round%2 == 0 {
			time.Sleep(time.Millisecond) // sometimes both waiting, sometimes not yet
		}
		s.Close()
		if r := poll.Receive(t, read, "read ended by Close"); r.err == nil {
			t.Fatalf("read after Close: %d, nil error", r.n)
		}
		if r := poll.Receive(t, write, "write ended by Close"); r.err == nil {
			t.Fatalf("write after Close: %d bytes, nil error", r.n)
		}
		if _, err := s.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed conn: %v", err)
		}
		// New sockets take the freed numbers; the old client's bytes
		// must reach none of them.
		var fresh []*Conn
		var peers []net.Conn
		for range 8 {
			fs, fc := pair(t, l)
			fresh = append(fresh, fs)
			peers = append(peers, fc)
		}
		c.Write([]byte("stale"))
		for i, fs := range fresh {
			want := fmt.Sprintf("fresh-%d", i)
			peers[i].Write([]byte(want))
			b := make([]byte, len(want))
			if _, err := io.ReadFull(fs, b); err != nil || string(b) != want {
				t.Fatalf("socket %d read %q, %v; want %q", i, b, err, want)
			}
			fs.Close()
		}
	}
}

func TestHalfClose(t *testing.T) {
	l := listen(t)
	s, c := pair(t, l)
	s.Write([]byte("last words"))
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c)
	if err != nil || string(all) != "last words" {
		t.Fatalf("client read %q, %v", all, err)
	}
	// The other way still flows.
	c.Write([]byte("bye"))
	b := make([]byte, 3)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "bye" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// TestRawConnKeepsItsDescriptor: Control names the same descriptor
// whether promoted or not (idlepoll's registration is on it), and a
// raw read that asks to wait goes on promoted.
func TestRawConnKeepsItsDescriptor(t *testing.T) {
	l := listen(t)
	s, c := pair(t, l)
	rc, _ := s.SyscallConn()
	fdOf := func() uintptr {
		var fd uintptr
		if err := rc.Control(func(f uintptr) { fd = f }); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	before := fdOf()
	got := goWait(func() ioResult { n, err := s.Read(make([]byte, 1)); return ioResult{n, err} })
	waitPromoted(t, s)
	if fdOf() != before {
		t.Fatal("Control's descriptor changed on promotion")
	}
	c.Write([]byte("x"))
	poll.Receive(t, got, "read")
	rc.(interface{ Demote() }).Demote()
	if s.Promoted() {
		t.Fatal("the RawConn's Demote left it promoted")
	}
	// A raw read that waits.
	raw := goWait(func() ioResult {
		var n int
		err := rc.Read(func(fd uintptr) bool {
			var err error
			n, err = syscall.Read(int(fd), make([]byte, 4))
			return err != syscall.EAGAIN
		})
		return ioResult{n, err}
	})
	waitPromoted(t, s)
	c.Write([]byte("abcd"))
	if r := poll.Receive(t, raw, "raw read"); r.err != nil || r.n != 4 {
		t.Fatalf("raw read %d, %v", r.n, r.err)
	}
	s.Close()
	if err := rc.Control(func(uintptr) {}); err == nil {
		t.Fatal("Control on a closed conn ran")
	}
}

// admitted stands for acceptloop's admitted connection: a Wrapper.
type admitted struct{ net.Conn }

func (a *admitted) NetConn() net.Conn      { return a.Conn }
func (a *admitted) SetNetConn(nc net.Conn) { a.Conn = nc }

func TestOwnTakesTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, wrap := range []bool{false, true} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		var nc net.Conn = tc
		if wrap {
			nc = &admitted{tc}
		}
		owned := Own(nc)
		var oc *Conn
		if wrap {
			if owned != nc {
				t.Fatal("a wrapper was not kept")
			}
			oc, _ = nc.(*admitted).Conn.(*Conn)
		} else {
			oc, _ = owned.(*Conn)
		}
		if oc == nil {
			t.Fatalf("wrap %v: the socket is not ours: %T", wrap, owned)
		}
		if _, err := tc.Write([]byte("x")); err == nil {
			t.Fatal("the original conn still writes")
		}
		if owned.RemoteAddr().String() != c.LocalAddr().String() {
			t.Fatalf("remote %s, want %s", owned.RemoteAddr(), c.LocalAddr())
		}
		owned.Write([]byte("hi"))
		b := make([]byte, 2)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "hi" {
			t.Fatalf("read %q, %v", b, err)
		}
		owned.Close()
		if _, err := c.Read(b); err != io.EOF {
			t.Fatalf("after Close the peer read %v, want EOF", err)
		}
	}
}

// TestRandomOperations runs random sequences of writes, demotions,
// deadlines and raw calls on one goroutine and reads with random
// deadlines on another, over an echoing peer, and checks that the bytes
// come back whole and in order.
func TestRandomOperations(t *testing.T) {
	l := listen(t)
	for seed := range uint64(12) {
		s, c := pair(t, l)
		go func() { // echo, then end its side
			io.Copy(c, c)
			c.(*net.TCPConn).CloseWrite()
		}()
		rng := rand.New(rand.NewPCG(seed, 7))
		readRng := rand.New(rand.NewPCG(seed, 8))
		got := goWait(func() ioResult {
			var all []byte
			buf := make([]byte, 1+readRng.IntN(4096))
			for {
				if readRng.IntN(3) == 0 {
					s.SetReadDeadline(time.Now().Add(time.Duration(readRng.IntN(2000)) * time.Microsecond))
				} else {
					s.SetReadDeadline(time.Now().Add(30 * time.Second))
				}
				n, err := s.Read(buf)
				all = append(all, buf[:n]...)
				switch {
				case err == io.EOF:
					return ioResult{len(all), checkEcho(all)}
				case errors.Is(err, os.ErrDeadlineExceeded):
				case err != nil:
					return ioResult{len(all), err}
				}
				if readRng.IntN(4) == 0 {
					s.Demote()
				}
			}
		})
		sent := 0
		for op := range 200 {
			switch rng.IntN(4) {
			case 0, 1:
				p := pattern(sent, 1+rng.IntN(64<<10))
				n, err := s.Write(p)
				sent += n
				if err != nil {
					t.Fatalf("seed %d op %d: write: %v", seed, op, err)
				}
			case 2:
				s.Demote()
			case 3:
				rc, _ := s.SyscallConn()
				rc.Control(func(uintptr) {})
			}
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		r := poll.Receive(t, got, "the echo")
		if r.err != nil || r.n != sent {
			t.Fatalf("seed %d: echo %d of %d bytes: %v", seed, r.n, sent, r.err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second close: %v", err)
		}
	}
}

// pattern is n bytes of the stream's from offset on: byte i of the
// stream is i mod 251, so that any reordering or loss shows.
func pattern(from, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((from + i) % 251)
	}
	return p
}

func checkEcho(b []byte) error {
	for i, v := range b {
		if v != byte(i%251) {
			return fmt.Errorf("byte %d is %d, want %d", i, v, i%251)
		}
	}
	return nil
}

func TestListenerClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(ln)
	done := goWait(func() error { _, err := l.Accept(); return err })
	time.Sleep(time.Millisecond)
	l.Close()
	if err := poll.Receive(t, done, "accept ended by Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
}

// BenchmarkPromoteDemote is what a demoted Conn pays for a call that
// waits: the standard conn made and closed again.
func BenchmarkPromoteDemote(b *testing.B) {
	s, _ := pair(b, listen(b))
	for b.Loop() {
		s.mu.Lock()
		if err := s.promoteLocked(); err != nil {
			b.Fatal(err)
		}
		s.mu.Unlock()
		s.Demote()
	}
}
