package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// A message to an idle SSE subscriber is written by the hub's walkers
// with one non-blocking write (issue 20, item 3); what the socket does not
// take is left to the stream's writer goroutine. These tests stall a
// subscriber so that the socket fills and the writes come up short.

// stalledSSE opens an SSE stream on filter and reads nothing but the
// response head until the test reads events. (Its receive buffer keeps
// its default size: one made small stalls reading it later for minutes.)
func stalledSSE(t *testing.T, s *testkit.Server, filter string) (net.Conn, *testkit.SSEReader) {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET /v1/subscribe?topic=%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", filter)
	br := bufio.NewReaderSize(nc, 512)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	s.WaitFilters(t, 1)
	return nc, testkit.NewSSEReader(br)
}

// numberedPayload is message i's payload: its index, a space and size bytes.
func numberedPayload(i, size int) []byte {
	return []byte(strconv.Itoa(i) + " " + strings.Repeat("x", size))
}

// publishNumbered publishes n messages whose payloads start with their
// index, the first of first bytes and the others of 1 KiB, calling each
// (when set) after every publish until it returns false.
func publishNumbered(t *testing.T, s *testkit.Server, topic string, n, first int, each func(i int) bool) {
	t.Helper()
	for i := range n {
		size := 1024
		if i == 0 {
			size = first
		}
		if _, err := s.Hub().Publish(t.Context(), &message.Message{Topic: topic, Payload: numberedPayload(i, size)}); err != nil {
			t.Fatal(err)
		}
		if each != nil && !each(i) {
			return
		}
	}
}

// readNumbered reads events until the stream ends or want are read,
// failing on any event out of order, and returns how many it read.
func readNumbered(t *testing.T, nc net.Conn, r *testkit.SSEReader, want int) (read int, last string) {
	t.Helper()
	for read < want {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		ev, err := r.Next()
		if err == io.EOF {
			return read, ""
		}
		if err != nil {
			t.Fatalf("after %d events: %v", read, err)
		}
		if ev.Event != "message" {
			return read, ev.Event + " " + ev.Data
		}
		if i, pad, _ := strings.Cut(ev.Data, " "); i != strconv.Itoa(read) || strings.Trim(pad, "x") != "" {
			t.Fatalf("event %d carries message %s, or is torn", read, i)
		}
		read++
	}
	return read, ""
}

// TestStalledSSEGetsTheRestInOrder: a subscriber that does not read gets,
// once it reads, every message in order, whole: the part of a write
// without waiting that the full socket refused went out first. The first
// message is larger than the socket's buffers take, so that write comes
// up short.
func TestStalledSSEGetsTheRestInOrder(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) {
		c.SSE.Timeout = 30 * time.Second
		c.Queue.Messages = 8192
	})
	nc, r := stalledSSE(t, s, "stall/x")
	const n = 2000
	publishNumbered(t, s, "stall/x", n, 6<<20, nil) // 6 MB first: a socket's send buffer holds 4 MB at most on Linux
	if read, last := readNumbered(t, nc, r, n); read != n {
		t.Fatalf("read %d of %d messages, then %q", read, n, last)
	}
}

// TestStalledSSEIsCutOffInOrder: the slow-consumer policy still cuts off
// a subscriber whose socket stays full; what it got before is a gapless
// prefix of what was published.
func TestStalledSSEIsCutOffInOrder(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) {
		c.Queue.Messages = 64
		c.SSE.Policy = "disconnect"
		c.SSE.Timeout = 30 * time.Second
	})
	nc, r := stalledSSE(t, s, "stall/x")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cut := func(int) bool {
		return ctx.Err() == nil && !strings.Contains(scrape(t, s.URL), `streamhub_slow_consumer_disconnects_total{transport="sse"} 1`)
	}
	publishNumbered(t, s, "stall/x", 100000, 1024, func(i int) bool {
		if i == 0 {
			// The first message taken from the queue before the rest
			// come: published all at once, they could fill the queue
			// before the writer ran, and the subscriber was cut off
			// with nothing sent (a flake on a busy machine).
			testkit.Eventually(t, 10*time.Second, "the first message written", func() bool { return s.Hub().Stats().QueuedBytes == 0 })
		}
		return i%64 != 63 || cut(i)
	})
	if cut(0) {
		t.Fatal("the stalled subscriber was not cut off")
	}
	read, last := readNumbered(t, nc, r, 100000)
	if read == 0 || (last != "" && !strings.Contains(last, "slow")) {
		t.Fatalf("read %d messages, then %q", read, last)
	}
}
