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
	s, err := Open(Config{Dir: t.TempDir(), Streams: []Stream{{Filter: "bench/#"}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 1000
	for i := 1; i <= n; i++ {
		s.Stage(&message.Message{Topic: "bench/x", Payload: make([]byte, 100), Origin: "publisher", Seq: uint64(i), Time: time.Now()})
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
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
