package record

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"streamhub/internal/media"
)

// recordAudio records one publishing session of an AAC path (channels
// tell sessions' tracks apart) from at for d into dir.
func recordAudio(t testing.TB, dir string, at time.Time, d time.Duration, channels int) {
	t.Helper()
	const rate, step = 48000, 1024
	track := media.Track{Codec: media.AAC, ClockRate: rate,
		AAC: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: rate, ChannelCount: channels}}
	seg, err := newSegmenter(dir, time.Second, []media.Track{track}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for pts := int64(0); media.Duration(pts, rate) < d; pts += step {
		f := media.Frame{PTS: pts, NTP: at.Add(media.Duration(pts, rate)), Units: [][]byte{{1, 2, 3}}, Keyframe: true}
		if err := seg.write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := seg.finish(); err != nil {
		t.Fatal(err)
	}
}

// TestListingMarksSessionsAndHoles: an HLS listing runs the segments on
// one timeline without holes and marks a discontinuity (with the init
// section to read) where a publishing session starts, even right after
// the last one ended, and where the tracks change after a hole.
func TestListingMarksSessionsAndHoles(t *testing.T) {
	r := New(t.TempDir(), nil, slog.New(slog.DiscardHandler))
	dir := r.pathDir("live/a")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	recordAudio(t, dir, t0, 3*time.Second, 1)
	segs, _ := segments(dir)
	sessionEnd := segs[len(segs)-1].end()
	recordAudio(t, dir, sessionEnd, 3*time.Second, 1)          // a takeover: no hole, a new session
	recordAudio(t, dir, t0.Add(time.Minute), 3*time.Second, 2) // after a hole, other tracks

	list, err := r.Listing("live/a", t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var offset time.Duration
	var breaks []time.Time
	for i, l := range list {
		if l.Offset != offset {
			t.Errorf("segment %d at %v on the timeline, want %v", i, l.Offset, offset)
		}
		offset += l.Duration
		if l.Discontinuity {
			breaks = append(breaks, l.Start)
			if l.Init != l.Name {
				t.Errorf("segment %d opens a discontinuity with the init section of %s", i, l.Init)
			}
		} else if i > 0 && l.Init != list[i-1].Init {
			t.Errorf("segment %d reads init section %s within a session of %s", i, l.Init, list[i-1].Init)
		}
	}
	if len(breaks) != 2 || !breaks[0].Equal(sessionEnd) || !breaks[1].Equal(t0.Add(time.Minute)) {
		t.Fatalf("discontinuities at %v, want at %v and %v; listing %+v", breaks, sessionEnd, t0.Add(time.Minute), list)
	}

	// A window from the middle starts its own timeline there.
	mid, err := r.Listing("live/a", t0.Add(1500*time.Millisecond), 3*time.Second)
	if err != nil || len(mid) == 0 || mid[0].Offset != 0 || mid[0].Discontinuity || mid[0].Init != mid[0].Name {
		t.Fatalf("listing from the middle: %+v, %v", mid, err)
	}
	if _, err := r.Listing("live/a", t0.Add(time.Hour), 0); !errors.Is(err, ErrNoRecording) {
		t.Fatalf("listing after the recording: %v, want ErrNoRecording", err)
	}

	// The fragment of the last segment decodes from its place on the
	// timeline; its init section is the file's.
	last := list[len(list)-1]
	data, _ := os.ReadFile(filepath.Join(dir, last.Name))
	init, rest, _ := splitInit(data)
	if got, err := r.InitSection("live/a", last.Name); err != nil || !bytes.Equal(got, init) || len(init) == 0 {
		t.Fatalf("init section %q, %v, want the file's %q", got, err, init)
	}
	frag, err := r.Fragment("live/a", last.Name, last.Offset)
	if err != nil {
		t.Fatal(err)
	}
	var parts, stored fmp4.Parts
	if err := parts.Unmarshal(frag); err != nil {
		t.Fatal(err)
	}
	if err := stored.Unmarshal(rest); err != nil {
		t.Fatal(err)
	}
	want := stored[0].Tracks[0].BaseTime + uint64(media.Ticks(last.Offset, 48000))
	if got := parts[0].Tracks[0].BaseTime; got != want || len(parts[0].Tracks[0].Samples) != len(stored[0].Tracks[0].Samples) {
		t.Fatalf("fragment decodes from %d, want %d", got, want)
	}
	for _, bad := range []string{"../a/" + last.Name, "x.mp4", "20000101T000000.000000Z_1us.mp4"} {
		if _, err := r.Fragment("live/a", bad, 0); !errors.Is(err, ErrNoRecording) {
			t.Errorf("fragment %q: %v, want ErrNoRecording", bad, err)
		}
	}
}

// FuzzParseHead: a segment file's head read back never panics the
// parser, and the init section it finds is the file's beginning.
func FuzzParseHead(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x08ftyp\x00\x00\x00\x08moov\x00\x00\x00\x18moof\x00\x00\x00\x10mfhd\x00\x00\x00\x00\x00\x00\x00\x07"))
	f.Add([]byte("\x00\x00\x00\x08ftyp\x00\x00\x00\x08moov\x00\x00\x00\x08mdat"))
	f.Add([]byte("\xff\xff\xff\xffmoov"))
	f.Add([]byte("\x00\x00\x00\x00ftyp"))
	f.Fuzz(func(t *testing.T, data []byte) {
		init, _, err := parseHead(bytes.NewReader(data))
		if err == nil && (len(init) == 0 || !bytes.HasPrefix(data, init)) {
			t.Fatalf("init section %q of %q", init, data)
		}
	})
}

// FuzzRetime: moving fragments in time never panics on a broken file,
// and moving them by nothing changes nothing.
func FuzzRetime(f *testing.F) {
	dir := f.TempDir()
	recordAudio(f, dir, time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), 1500*time.Millisecond, 1)
	segs, _ := segments(dir)
	data, err := os.ReadFile(segs[0].file)
	if err != nil {
		f.Fatal(err)
	}
	init, rest, _ := splitInit(data)
	f.Add(init, rest)
	f.Add(init[:len(init)/2], rest[:len(rest)/2])
	f.Add([]byte("\x00\x00\x00\x01moov\x00\x00\x00\x00\x00\x00\x00\x08"), []byte("\x00\x00\x00\x00moof"))
	f.Fuzz(func(t *testing.T, init, frags []byte) {
		before := bytes.Clone(frags)
		if err := retime(init, frags, 0, nil); err == nil && !bytes.Equal(frags, before) {
			t.Fatalf("moved by nothing: %q, was %q", frags, before)
		}
		_ = retime(init, frags, time.Hour, nil)
	})
}
