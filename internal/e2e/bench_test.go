package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// BenchmarkSSEFanOut: 200 real SSE connections on one topic, messages of
// 100 bytes published into the hub; reports deliveries per second.
func BenchmarkSSEFanOut(b *testing.B) {
	const subscribers = 200
	s := testkit.Start(b, func(c *config.Config) { c.Queue.Messages = 1 << 16; c.Queue.Bytes = 1 << 30 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var delivered atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: subscribers}}
	for range subscribers {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/subscribe?topic=bench/x", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if bytes.HasPrefix(sc.Bytes(), []byte("data: ")) {
					delivered.Add(1)
				}
			}
		}()
	}
	s.WaitFilters(b, subscribers)
	payload := bytes.Repeat([]byte("x"), 100)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.Hub().Publish(ctx, &message.Message{Topic: "bench/x", Payload: payload})
		if i%1000 == 999 { // stay within the queues
			for delivered.Load() < int64(i-2000)*subscribers {
				time.Sleep(time.Millisecond)
			}
		}
	}
	want := int64(b.N) * subscribers
	for delivered.Load() < want {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(want), "ns/delivery")
}
