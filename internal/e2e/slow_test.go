package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestSlowSubscriberDoesNotHoldBackOthers opens subscribers that never read
// their sockets beside ones that do, publishes far more than fits in any
// socket buffer, and checks that the readers get everything at full rate,
// the stalled ones are cut off (SSE) or lose the oldest messages (NDJSON
// with drop-oldest), and the server's heap stays bounded.
func TestSlowSubscriberDoesNotHoldBackOthers(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) {
		c.Queue.Messages = 256
		c.History.Messages = 512
		c.SSE.Timeout = time.Second
		c.NDJSON.Policy = "drop-oldest"
		c.NDJSON.Timeout = 500 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Stalled clients: send the request, never read the response.
	stall := func(accept string) net.Conn {
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		fmt.Fprintf(conn, "GET /v1/subscribe?topic=load/%%23 HTTP/1.1\r\nHost: x\r\nAccept: %s\r\n\r\n", accept)
		return conn
	}
	stall("text/event-stream")
	stall("application/x-ndjson")
	readers := []*collector{{countOnly: true}, {countOnly: true}}
	sseSubscriber().start(ctx, t, s, "load/#", readers[0])
	ndjsonSubscriber().start(ctx, t, s, "load/#", readers[1])
	s.WaitFilters(t, 4)

	const n = 20000
	payload := []byte(strings.Repeat("x", 1024))
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if _, err := s.Hub().Publish(ctx, &message.Message{Topic: "load/data", Payload: payload}); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			// Publish as fast as the reading clients follow (their queues
			// hold 256), however slow -race makes them.
			testkit.Eventually(t, 30*time.Second, "readers to keep up", func() bool {
				a, aerr := readers[0].snapshot()
				b, berr := readers[1].snapshot()
				if aerr != nil || berr != nil {
					t.Fatal(aerr, berr)
				}
				return len(a) >= i-100 && len(b) >= i-100
			})
		}
	}
	for i, c := range readers {
		testkit.Eventually(t, 30*time.Second, "readers to get every message", func() bool {
			got, _ := c.snapshot()
			return len(got) >= n
		})
		if got, _ := c.snapshot(); len(got) != n {
			t.Fatalf("reader %d got %d messages, want %d", i, len(got), n)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// 20 MiB were published; history (512 KiB) and queues (256 KiB each)
	// are what may stay. Allow generous slack for the runtime and clients.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
	metrics := scrape(t, s.URL)
	if !strings.Contains(metrics, `streamhub_slow_consumer_disconnects_total{transport="sse"} 1`) {
		t.Errorf("stalled SSE client not disconnected:\n%s", grep(metrics, "slow_consumer"))
	}
	if !strings.Contains(metrics, `streamhub_messages_dropped_total{transport="ndjson"}`) {
		t.Errorf("stalled NDJSON client dropped nothing:\n%s", grep(metrics, "dropped"))
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(text, substr string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}
