package store

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
)

// TestQueue: records come back in sequence order after a reopen, from
// the start or after a sequence, and queues do not see each other's
// records.
func TestQueue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(Config{Dir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // past one byte of sequence: order is numeric
		if err := s.QueueAppend("a", uint64(i+1), [][]byte{[]byte(fmt.Sprint(i + 1))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.QueueAppend("ab", 1, [][]byte{[]byte("other")}); err != nil {
		t.Fatal(err)
	}
	if err := s.QueueAppend("bad\x00name", 1, nil); err != ErrQueueName {
		t.Fatalf("a NUL in the name: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Config{Dir: dir}, log); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, last, err := s.QueueStat("a"); n != 300 || last != 300 || err != nil {
		t.Fatalf("stat: %d records, last %d, %v", n, last, err)
	}
	for seq := range uint64(255) {
		if err := s.QueueRemove("a", seq+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, after := range []uint64{0, 255} {
		head, err := s.QueueHead("a", after, 2)
		if err != nil || len(head) != 2 || head[0].Seq != 256 || string(head[0].Data) != "256" || head[1].Seq != 257 {
			t.Fatalf("head after removing 1 to 255, read after %d: %+v %v", after, head, err)
		}
	}
	if n, _, _ := s.QueueStat("ab"); n != 1 {
		t.Fatalf("queue ab holds %d records, want 1", n)
	}
	for seq := uint64(256); seq <= 300; seq++ {
		if err := s.QueueRemove("a", seq); err != nil {
			t.Fatal(err)
		}
	}
	if n, last, _ := s.QueueStat("a"); n != 0 || last != 0 {
		t.Fatalf("after removing all: %d records, last %d", n, last)
	}
}
