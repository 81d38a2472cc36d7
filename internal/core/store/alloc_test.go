package store

import (
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

// TestReplayAllocatesPerPage: a replay page shares its memory (messages,
// record bytes, repeated topic and origin strings) instead of making
// several objects per message, which was most of a replay's cost.
func TestReplayAllocatesPerPage(t *testing.T) {
	const n = 1000
	s := storeOf(t, n)
	allocs := testing.AllocsPerRun(5, func() {
		msgs, _, _, err := s.Replay([]string{"bench/#"}, 0, n, n)
		if err != nil || len(msgs) != n {
			t.Fatalf("replayed %d, %v", len(msgs), err)
		}
	})
	// About 0.03 (4 before pages shared their memory); up to about 1 under
	// -race, whose sync.Pool drops some of pebble's buffers.
	if perMessage := allocs / n; perMessage > 2 {
		t.Fatalf("%.1f allocations per replayed message", perMessage)
	}
}

// storeOf opens a store holding n messages of 100 bytes on bench/x, from
// one publisher, committed 1000 at a time; it is closed with the test.
func storeOf(tb testing.TB, n int) *Store {
	s, err := Open(Config{Dir: tb.TempDir(), Streams: []Stream{{Filter: "bench/#"}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	for i := 1; i <= n; i++ {
		s.Stage(&message.Message{Topic: "bench/x", Payload: make([]byte, 100), Origin: "publisher", Seq: uint64(i), Time: time.Now()})
		if i%1000 == 0 || i == n {
			if err := s.Commit(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return s
}

// TestStageAllocatesNothing: staging a durable message encodes its keys
// and record into reused buffers (the batch copies them), not into four
// new ones per message.
func TestStageAllocatesNothing(t *testing.T) {
	s := storeOf(t, 0)
	m := &message.Message{Topic: "bench/x", Payload: make([]byte, 100), Origin: "publisher", Time: time.Now()}
	allocs := testing.AllocsPerRun(1000, func() {
		m.Seq++
		s.Stage(m)
	})
	if allocs >= 1 {
		t.Fatalf("%.2f allocations per staged message", allocs)
	}
}
