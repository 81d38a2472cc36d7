package store

import (
	"fmt"
	"testing"
)

// BenchmarkReplay reads back 100,000 stored messages of 100 bytes, page by page.
func BenchmarkReplay(b *testing.B) {
	const n = 100_000
	s := storeOf(b, n)
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
