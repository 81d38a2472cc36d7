package rtmp

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"streamhub/internal/limit"
	"streamhub/internal/media"
	"streamhub/internal/testkit/poll"
)

// Raw clients that do the handshake and then announce messages: the
// server's memory follows the bytes that came, a message over the limit
// ends the connection at its header, and messages still arriving stop at
// the budget shared with the other transports.

func startGuarded(t *testing.T, budget *limit.Budget) *Server {
	t.Helper()
	s := New(Config{ListenerConfig: media.ListenerConfig{Addr: "127.0.0.1:0", Timeout: 30 * time.Second},
		Partial: budget}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// handshaken dials addr and does the plain RTMP handshake as a client.
func handshaken(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(append([]byte{3}, make([]byte, 1536)...)); err != nil {
		t.Fatal(err)
	}
	s0s1s2 := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s0s1s2); err != nil {
		t.Fatalf("read S0 S1 S2: %v", err)
	}
	if _, err := c.Write(s0s1s2[1 : 1+1536]); err != nil {
		t.Fatal(err)
	}
	return c
}

// chunk0 is a type 0 chunk header on chunk stream cs announcing a message
// of length bytes and type typ, followed by body.
func chunk0(cs byte, length int, typ byte, body []byte) []byte {
	b := []byte{cs & 0x3F, 0, 0, 0, byte(length >> 16), byte(length >> 8), byte(length), typ, 0, 0, 0, 0}
	return append(b, body...)
}

// setChunkSize is a whole set-chunk-size message.
func setChunkSize(size uint32) []byte {
	return chunk0(2, 4, typeSetChunkSize, binary.BigEndian.AppendUint32(nil, size))
}

// wantClosed reads until the server closes c; a timeout means it still
// waits for bytes.
func wantClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept the connection open")
	}
}

func TestRTMPRefusesMessagesOverTheLimit(t *testing.T) {
	s := startGuarded(t, nil)
	for name, attack := range map[string][]byte{
		// The issue's: a 10 MiB chunk size and a 10 MiB message, 16 bytes sent.
		"10 MiB announced":      append(setChunkSize(10<<20), chunk0(3, 10<<20-1, 20, []byte{2, 0})...),
		"just over 1 MiB":       chunk0(3, 1<<20+1, 9, make([]byte, 100)),
		"chunk size 0":          setChunkSize(0),
		"chunk size over 10MiB": setChunkSize(11 << 20),
	} {
		t.Run(name, func(t *testing.T) {
			c := handshaken(t, s.Addr())
			if _, err := c.Write(attack); err != nil {
				t.Fatal(err)
			}
			wantClosed(t, c)
		})
	}
}

func TestRTMPMemoryFollowsBytesReceived(t *testing.T) {
	budget := limit.NewBudget(1 << 30) // a probe: what the server holds, never a refusal
	s := startGuarded(t, budget)
	const conns, sent = 50, 100
	before := heapAlloc()
	// Each announces a message at the limit, in one chunk, and sends 100
	// bytes of it: before the guard each cost 1 MiB, 50 MiB in all.
	attack := append(setChunkSize(1<<20), chunk0(3, 1<<20, 9, make([]byte, sent))...)
	clients := make([]net.Conn, conns)
	for i := range clients {
		clients[i] = handshaken(t, s.Addr())
		if _, err := clients[i].Write(attack); err != nil {
			t.Fatal(err)
		}
	}
	// The chunk's header and body so far are held once all have arrived.
	poll.Eventually(t, 20*time.Second, "every announced byte read", func() bool {
		return budget.Used() == conns*(12+sent)
	})
	if grew := int64(heapAlloc()) - int64(before); grew > 16<<20 {
		t.Fatalf("heap grew %d MiB for %d connections that sent %d bytes each", grew>>20, conns, len(attack))
	}
	for _, c := range clients {
		c.Close()
	}
	poll.Eventually(t, 20*time.Second, "the budget given back", func() bool { return budget.Used() == 0 })
}

// Half-sent messages on many chunk streams: a connection is cut once the
// bytes of its messages still arriving pass its share (4 messages of the
// limit), and the budget ends where it began.
func TestRTMPHalfSentMessagesStopAtTheConnectionShare(t *testing.T) {
	budget := limit.NewBudget(1 << 30)
	s := startGuarded(t, budget)
	c := handshaken(t, s.Addr())
	// 60 chunk streams, each 128 KiB into a 1 MiB message: 7.5 MiB.
	done := sendHalfMessages(c, 60, 2)
	wantClosed(t, c)
	<-done
	poll.Eventually(t, 20*time.Second, "the budget given back", func() bool { return budget.Used() == 0 })
	if budget.Exhausted() != 0 {
		t.Fatal("the budget ran out before the connection's share")
	}
}

// Half-sent messages of several connections stop at the budget they
// share: the connection that asks past it is cut, the others keep theirs.
func TestRTMPHalfSentMessagesStopAtTheBudget(t *testing.T) {
	const held = 48 * 64 << 10 // 3 MiB per connection, under its share
	budget := limit.NewBudget(5 << 20)
	s := startGuarded(t, budget)
	first := handshaken(t, s.Addr())
	<-sendHalfMessages(first, 48, 1)
	poll.Eventually(t, 20*time.Second, "the first connection's messages held", func() bool { return budget.Used() == held })
	second := handshaken(t, s.Addr())
	done := sendHalfMessages(second, 48, 1)
	wantClosed(t, second)
	<-done
	poll.Eventually(t, 20*time.Second, "the second's bytes given back", func() bool { return budget.Used() == held })
	if budget.Exhausted() == 0 {
		t.Fatal("the connection was cut, but not by the budget")
	}
}

// sendHalfMessages sets a 64 KiB chunk size and sends, on each of streams
// chunk streams, rounds chunks of a 1 MiB message, from a goroutine: the
// server may cut the connection midway. done closes when it stops.
func sendHalfMessages(c net.Conn, streams, rounds int) (done <-chan struct{}) {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if _, err := c.Write(setChunkSize(64 << 10)); err != nil {
			return
		}
		for round := range rounds {
			for cs := byte(3); cs < byte(3+streams); cs++ {
				b := chunk0(cs, 1<<20, 9, make([]byte, 64<<10))
				if round > 0 {
					b = append([]byte{0xC0 | cs}, make([]byte, 64<<10)...) // type 3: the message goes on
				}
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}
	}()
	return stopped
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
