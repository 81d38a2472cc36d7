package store

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

// BenchmarkReplay reads back 100,000 stored messages of 100 bytes, page by page.
func BenchmarkReplay(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir(), Streams: []Stream{{Filter: "bench/#"}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := make([]byte, 100)
	const n = 100_000
	for i := 1; i <= n; i++ {
		s.Stage(&message.Message{Topic: "bench/x", Payload: payload, Seq: uint64(i), Time: time.Now()})
		if i%1000 == 0 {
			s.Commit()
		}
	}
	b.ResetTimer()
	for b.Loop() {
		after, total := uint64(0), 0
		for {
			msgs, last, done, err := s.Replay([]string{"bench/#"}, after, n, 1000)
			if err != nil {
				b.Fatal(err)
			}
			total += len(msgs)
			after = last
			if done {
				break
			}
		}
		if total != n {
			b.Fatal(fmt.Sprint("replayed ", total))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
