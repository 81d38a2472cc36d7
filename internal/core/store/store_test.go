package store

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

func open(t *testing.T, dir string, streams ...Stream) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, Streams: streams}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, seq uint64, name, payload string, at time.Time) {
	t.Helper()
	s.Stage(&message.Message{Topic: name, Payload: []byte(payload), Seq: seq, Time: at})
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
}

func replayAll(t *testing.T, s *Store, filters []string, after uint64) []string {
	t.Helper()
	var out []string
	for {
		msgs, last, done, err := s.Replay(filters, after, 1<<62, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			out = append(out, fmt.Sprintf("%d:%s", m.Seq, m.Payload))
		}
		if done {
			return out
		}
		after = last
	}
}

func TestReopenKeepsEpochMessagesAndRetained(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Stream{Filter: "d/#"})
	epoch := s.Epoch()
	now := time.Now()
	put(t, s, 1, "d/a", "one", now)
	put(t, s, 2, "x/not-durable", "no", now)
	put(t, s, 3, "d/b", "three", now)
	s.Stage(&message.Message{Topic: "r/t", Payload: []byte("kept"), Retain: true, Seq: 4, Time: now})
	s.Commit()
	if err := s.Reserve(100); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir, Stream{Filter: "d/#"})
	defer s.Close()
	if s.Epoch() != epoch || s.Reserved() != 100 {
		t.Fatalf("epoch %q reserved %d after reopen", s.Epoch(), s.Reserved())
	}
	if got := fmt.Sprint(replayAll(t, s, []string{"#"}, 0)); got != "[1:one 3:three]" {
		t.Fatalf("replay %s", got)
	}
	if got := fmt.Sprint(replayAll(t, s, []string{"d/b"}, 1)); got != "[3:three]" {
		t.Fatalf("filtered replay %s", got)
	}
	r, _ := s.Retained()
	if len(r) != 1 || string(r[0].Payload) != "kept" {
		t.Fatalf("retained %v", r)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(),
		Stream{Filter: "count/#", Messages: 3},
		Stream{Filter: "bytes/#", Bytes: 200},
		Stream{Filter: "age/#", Age: time.Minute})
	defer s.Close()
	now := time.Now()
	seq := uint64(0)
	for i := range 10 {
		seq++
		put(t, s, seq, "count/x", fmt.Sprint(i), now)
		seq++
		put(t, s, seq, "bytes/x", fmt.Sprintf("%040d", i), now)
		seq++
		put(t, s, seq, "age/x", fmt.Sprint(i), now.Add(time.Duration(i-10)*time.Minute/4)) // the first 6 older than a minute
	}
	if err := s.Enforce(now); err != nil {
		t.Fatal(err)
	}
	count := replayAll(t, s, []string{"count/#"}, 0)
	if len(count) != 3 || count[0][len(count[0])-1] != '7' {
		t.Errorf("count retention kept %v", count)
	}
	if b := replayAll(t, s, []string{"bytes/#"}, 0); len(b) == 0 || len(b) > 4 {
		t.Errorf("bytes retention kept %d messages", len(b))
	}
	if a := replayAll(t, s, []string{"age/#"}, 0); len(a) != 4 {
		t.Errorf("age retention kept %v", a)
	}
	if !s.Gap([]string{"count/x"}, 1) || s.Gap([]string{"other/#"}, 1) || s.Gap([]string{"count/#"}, seq) {
		t.Error("gap detection wrong")
	}
	for _, st := range s.Stats() {
		if st.Filter == "count/#" && st.Messages != 3 {
			t.Errorf("stats %+v", st)
		}
	}
}

// TestCoveredAndReaches: a filter is covered when every topic it matches
// is durable, and reaches the store when some may be.
func TestCoveredAndReaches(t *testing.T) {
	s := open(t, t.TempDir(), Stream{Filter: "d/#"}, Stream{Filter: "x/+/keep"})
	for _, c := range []struct {
		filter           string
		covered, reaches bool
	}{
		{"d/a", true, true},
		{"d/#", true, true},
		{"#", false, true},
		{"x/1/keep", true, true},
		{"x/+/+", false, true},
		{"n/#", false, false},
		{"x/1/drop", false, false},
	} {
		if got := s.Covered(c.filter); got != c.covered {
			t.Errorf("Covered(%q) = %v", c.filter, got)
		}
		if got := s.Reaches(c.filter); got != c.reaches {
			t.Errorf("Reaches(%q) = %v", c.filter, got)
		}
	}
}
