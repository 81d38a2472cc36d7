package wsconn

import (
	"bufio"
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"streamhub/internal/testkit/loopback"
)

// discardConn is a net.Conn whose writes vanish: read's answers (pong,
// close) have somewhere to go while it is fed input.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

func clientFrame(t testing.TB, f ws.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.MaskFrame(f)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readAll(data []byte, limit int64) (msgs [][]byte, err error) {
	c := New(discardConn{}, bufio.NewReader(bytes.NewReader(data)), time.Second)
	c.SetReadLimit(limit)
	for {
		_, m, err := c.Read()
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, m)
	}
}

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		p := bytes.Repeat([]byte{'x'}, n)
		f, err := ws.ReadFrame(bytes.NewReader(AppendFrame(nil, ws.OpBinary, p)))
		if err != nil || !f.Header.Fin || f.Header.OpCode != ws.OpBinary || f.Header.Masked || !bytes.Equal(f.Payload, p) {
			t.Errorf("%d bytes: %v %+v", n, err, f.Header)
		}
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	var in []byte
	in = append(in, clientFrame(t, ws.NewTextFrame([]byte("one")))...)
	in = append(in, clientFrame(t, ws.NewPingFrame([]byte("p")))...)
	in = append(in, clientFrame(t, ws.NewFrame(ws.OpBinary, false, []byte("tw")))...)
	in = append(in, clientFrame(t, ws.NewFrame(ws.OpContinuation, true, []byte("o")))...)
	in = append(in, clientFrame(t, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))...)
	msgs, err := readAll(in, 100)
	if err != ErrClosed || len(msgs) != 2 || string(msgs[0]) != "one" || string(msgs[1]) != "two" {
		t.Fatalf("read %q, %v", msgs, err)
	}
	if _, err := readAll(clientFrame(t, ws.NewTextFrame(make([]byte, 101))), 100); err == nil {
		t.Error("a message over the limit was read")
	}
	var unmasked bytes.Buffer
	ws.WriteFrame(&unmasked, ws.NewTextFrame([]byte("x")))
	if _, err := readAll(unmasked.Bytes(), 100); err == nil {
		t.Error("an unmasked client frame was read")
	}
}

// FuzzRead feeds arbitrary bytes to the frame reader: it returns messages
// within the limit or an error, and never panics.
func FuzzRead(f *testing.F) {
	f.Add(clientFrame(f, ws.NewTextFrame([]byte("hello"))))
	f.Add(clientFrame(f, ws.NewFrame(ws.OpText, false, []byte("a"))))
	f.Add(clientFrame(f, ws.NewPingFrame(nil)))
	f.Add(clientFrame(f, ws.NewCloseFrame(ws.NewCloseFrameBody(4000, "bye"))))
	f.Add([]byte{0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x83, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}) // reserved opcode, huge length
	f.Add([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})                      // negative length
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _ := readAll(data, 64)
		for _, m := range msgs {
			if len(m) > 64 {
				t.Fatalf("read a message of %d bytes over the limit of 64", len(m))
			}
		}
	})
}

// TestReadGrowsAsBytesArrive: a frame declaring nearly 8 MiB followed by 3
// bytes costs what arrived, not what was declared.
func TestReadGrowsAsBytesArrive(t *testing.T) {
	hdr := ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 8<<20 - 100, Mask: [4]byte{1, 2, 3, 4}}
	var in bytes.Buffer
	if err := ws.WriteHeader(&in, hdr); err != nil {
		t.Fatal(err)
	}
	in.WriteString("abc")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := readAll(in.Bytes(), 16<<20); err == nil {
		t.Fatal("a truncated frame was read")
	}
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes", grew)
	if grew > 1<<20 {
		t.Errorf("reading 3 bytes of a declared 8 MiB frame allocated %d bytes", grew)
	}
	// Frames spanning several growth steps arrive whole.
	for _, n := range []int{payloadChunk, payloadChunk + 1, 5*payloadChunk + 7} {
		p := bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
		msgs, _ := readAll(clientFrame(t, ws.NewBinaryFrame(p)), 1<<20)
		if len(msgs) != 1 || !bytes.Equal(msgs[0], p) {
			t.Errorf("a frame of %d bytes did not arrive whole", n)
		}
	}
}

// TestServeHoldsNoReadBufferWhileWaiting: a served socket borrows its read
// buffer only while input is there, so that an idle one holds none (issue
// 20); a frame arriving in pieces, its first byte alone, is read whole.
func TestServeHoldsNoReadBufferWhileWaiting(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := New(server, nil, time.Second)
	c.SetReadLimit(1 << 10)
	got, ended := make(chan string, 4), make(chan struct{})
	bare := make(chan bool, 4) // whether each wait began holding no buffer
	c.onWait = func() { bare <- c.in.r == nil }
	c.Serve(testServed{got, ended}, nil)
	waitingBare := func() {
		t.Helper()
		if !<-bare {
			t.Fatal("a waiting socket holds a read buffer")
		}
	}
	waitingBare()
	for _, msg := range []string{"first", "second"} {
		f := clientFrame(t, ws.NewTextFrame([]byte(msg)))
		if _, err := client.Write(f[:1]); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write(f[1:]); err != nil {
			t.Fatal(err)
		}
		if m := <-got; m != msg {
			t.Fatalf("read %q, sent %q", m, msg)
		}
		waitingBare()
	}
	client.Close()
	<-ended
}

type testServed struct {
	got   chan<- string
	ended chan struct{}
}

func (s testServed) Message(_ ws.OpCode, p []byte) bool {
	s.got <- string(p)
	return true
}

func (s testServed) End() { close(s.ended) }

// TestTrySendAfterWriteDeadlinePassed checks that a ping sent without
// waiting goes out although the deadline the last waiting write set has
// passed: a socket that once waited to write must not leave every later
// heartbeat to a goroutine of its own (the JSON WebSocket's idle memory
// grew by a goroutine per ping wave).
func TestTrySendAfterWriteDeadlinePassed(t *testing.T) {
	t.Parallel()
	client, server := loopback.Pair(t)
	const writeTimeout = time.Millisecond
	c := New(server, nil, writeTimeout)
	defer c.CloseNow()
	if err := c.WriteFrame(ws.OpText, []byte("subscribed")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * writeTimeout) // the write's deadline is behind us
	sent, err := c.TrySend(AppendFrame(nil, ws.OpPing, nil))
	if !sent || err != nil {
		t.Fatalf("TrySend after the write deadline passed: sent %v, %v", sent, err)
	}
	r := bufio.NewReader(client)
	for _, want := range []ws.OpCode{ws.OpText, ws.OpPing} {
		f, err := ws.ReadFrame(r)
		if err != nil || f.Header.OpCode != want {
			t.Fatalf("client read %+v, %v; want opcode %v", f.Header, err, want)
		}
	}
}
