package record

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSegmentNameRoundTrip(t *testing.T) {
	seg := Segment{Start: time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.UTC), Duration: 10040 * time.Millisecond}
	got, ok := parseName(seg.name())
	if !ok || !got.Start.Equal(seg.Start) || got.Duration != seg.Duration {
		t.Fatalf("%s parsed as %+v, %v", seg.name(), got, ok)
	}
	for _, bad := range []string{"x.mp4", "20261207T100000.123456Z_10us.mp4.part", "20261207T100000.123456Z_-1us.mp4", "20261207T100000Z_1us.mp4"} {
		if _, ok := parseName(bad); ok {
			t.Errorf("%q parsed as a segment", bad)
		}
	}
}

// TestSpansJoinAcrossSmallHoles: segments less than spanTolerance apart
// are one span; an offline stretch starts another.
func TestSpansJoinAcrossSmallHoles(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	segs := []Segment{
		{Start: t0, Duration: 10 * time.Second},
		{Start: t0.Add(10 * time.Second), Duration: 10 * time.Second},
		{Start: t0.Add(20500 * time.Millisecond), Duration: 5 * time.Second}, // a takeover's hole
		{Start: t0.Add(time.Minute), Duration: 10 * time.Second},             // offline meanwhile
	}
	got := spans(segs)
	if len(got) != 2 || got[0].Duration != 25.5 || !got[1].Start.Equal(t0.Add(time.Minute)) || got[1].Duration != 10 {
		t.Fatalf("spans %+v", got)
	}
	if o := overlapping(segs, t0.Add(15*time.Second), 10*time.Second); len(o) != 2 || !o[0].Start.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("overlapping %+v", o)
	}
}

// FuzzSplitInit: a segment file read back never panics the splitter, and
// what it splits adds up to the file.
func FuzzSplitInit(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x08ftyp\x00\x00\x00\x08moov\x00\x00\x00\x08moof"))
	f.Add([]byte("\x00\x00\x00\x00ftyp"))
	f.Add([]byte("\xff\xff\xff\xffmoov"))
	f.Fuzz(func(t *testing.T, data []byte) {
		init, rest, err := splitInit(data)
		if err == nil && !bytes.Equal(append(append([]byte{}, init...), rest...), data) {
			t.Fatalf("split %q into %q and %q", data, init, rest)
		}
	})
}

func FuzzParseName(f *testing.F) {
	f.Add("20261207T100000.123456Z_10040000us.mp4")
	f.Fuzz(func(t *testing.T, name string) {
		if seg, ok := parseName(name); ok && seg.Duration < 0 {
			t.Fatalf("%q: negative duration", name)
		}
	})
}

// TestRetentionRemovesOldestFirst: past the bytes or the age, the oldest
// segments go first and the newest always stays.
func TestRetentionRemovesOldestFirst(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	var names []string
	for i := range 4 {
		seg := Segment{Start: now.Add(time.Duration(i-4) * time.Hour), Duration: time.Second}
		names = append(names, seg.name())
		if err := os.WriteFile(filepath.Join(dir, seg.name()), make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := New(t.TempDir(), nil, slog.New(slog.DiscardHandler))
	left := func() []string {
		segs, _ := segments(dir)
		var out []string
		for _, s := range segs {
			out = append(out, filepath.Base(s.file))
		}
		return out
	}
	r.applyRetention(dir, Rule{Bytes: 300})
	if got := left(); !slices.Equal(got, names[1:]) {
		t.Fatalf("bytes 300: left %v, want %v", got, names[1:])
	}
	r.applyRetention(dir, Rule{Age: 150 * time.Minute})
	if got := left(); !slices.Equal(got, names[2:]) {
		t.Fatalf("age 2h30m: left %v, want %v", got, names[2:])
	}
	r.applyRetention(dir, Rule{Bytes: 1})
	if got := left(); !slices.Equal(got, names[3:]) {
		t.Fatalf("bytes 1: left %v, want the newest alone, %v", got, names[3:])
	}
}
