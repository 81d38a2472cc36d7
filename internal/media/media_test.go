package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

type sinkRecorder struct {
	mu   sync.Mutex
	msgs []*message.Message
}

func (s *sinkRecorder) Publish(_ context.Context, m *message.Message) (message.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return message.Cursor{}, nil
}

func (s *sinkRecorder) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.msgs[len(s.msgs)-1].Payload)
}

type skipCounter struct{ n int }

func (c *skipCounter) MediaSkipped(_ string, n int) { c.n += n }

var videoAudio = []Track{{Codec: H264, ClockRate: 90000, SPS: []byte{0x67, 1}, PPS: []byte{0x68, 1}},
	{Codec: AAC, ClockRate: 48000}}

func newTestRegistry(cfg Config) (*Registry, *sinkRecorder) {
	sink := &sinkRecorder{}
	return New(cfg, sink, nil, slog.New(slog.NewTextHandler(io.Discard, nil))), sink
}

func video(pts int64, key bool) Frame {
	return Frame{Track: 0, PTS: pts, Units: [][]byte{{0x65, byte(pts)}}, Keyframe: key}
}

func next(t *testing.T, rd *Reader) Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f, err := rd.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A reader starts at a keyframe, with the parameter sets in front of it.
func TestReaderStartsAtKeyframeWithParameterSets(t *testing.T) {
	t.Parallel()
	reg, _ := newTestRegistry(Config{})
	defer reg.Close()
	pub, err := reg.Publish("live/cam1", "test", videoAudio)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := reg.Read("live/cam1", "test")
	if err != nil {
		t.Fatal(err)
	}
	pub.Write(video(1, false))
	pub.Write(Frame{Track: 1, PTS: 1, Units: [][]byte{{1}}, Keyframe: true})
	pub.Write(video(2, true))
	f := next(t, rd)
	if f.PTS != 2 || len(f.Units) != 3 || f.Units[0][0] != 0x67 || f.Units[1][0] != 0x68 {
		t.Fatalf("first frame: %+v", f)
	}
}

// A reader that falls behind loses its queue and resumes at the next
// keyframe; the publisher never waits and the skip is counted.
func TestSlowReaderSkipsToNextKeyframe(t *testing.T) {
	t.Parallel()
	counter := &skipCounter{}
	reg, _ := newTestRegistry(Config{QueueFrames: 4})
	reg.observe = counter
	defer reg.Close()
	pub, _ := reg.Publish("cam", "test", videoAudio)
	slow, _ := reg.Read("cam", "test")
	fast, _ := reg.Read("cam", "test")
	pub.Write(video(0, true))
	for pts := int64(1); pts <= 6; pts++ { // overflows slow's queue of 4
		pub.Write(video(pts, false))
		if f := next(t, fast); f.PTS != pts-1 {
			t.Fatalf("fast reader got %d, want %d", f.PTS, pts-1)
		}
	}
	pub.Write(video(7, true))
	if f := next(t, slow); f.PTS != 7 || !f.Keyframe {
		t.Fatalf("slow reader resumed at %+v, want the keyframe at 7", f)
	}
	if slow.Skipped() == 0 || counter.n != slow.Skipped() {
		t.Fatalf("skips not counted: reader %d, observer %d", slow.Skipped(), counter.n)
	}
}

// One publisher per path; the publisher going away ends the readers and
// leaves an offline state retained.
func TestPathLifecycle(t *testing.T) {
	t.Parallel()
	reg, sink := newTestRegistry(Config{})
	defer reg.Close()
	pub, _ := reg.Publish("cam", "rtmp", videoAudio)
	if _, err := reg.Publish("cam", "rtsp", videoAudio); !errors.Is(err, ErrBusy) {
		t.Fatalf("second publisher: %v, want ErrBusy", err)
	}
	rd, _ := reg.Read("cam", "hls")
	if st := sink.last(); !strings.Contains(st, `"online":true`) || !strings.Contains(st, `"hls":1`) {
		t.Fatalf("state: %s", st)
	}
	pub.Close()
	if _, err := rd.Next(context.Background()); !errors.Is(err, ErrEnded) {
		t.Fatalf("reader after the publisher left: %v", err)
	}
	if st := sink.last(); !strings.Contains(st, `"online":false`) {
		t.Fatalf("state after close: %s", st)
	}
	if _, err := reg.Read("cam", "hls"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read of an ended path: %v", err)
	}
	if _, err := reg.Publish("cam", "rtmp", videoAudio); err != nil {
		t.Fatalf("republish after the end: %v", err)
	}
}

func TestTakeover(t *testing.T) {
	t.Parallel()
	reg, _ := newTestRegistry(Config{Takeover: true})
	defer reg.Close()
	first, _ := reg.Publish("cam", "rtmp", videoAudio)
	rd, _ := reg.Read("cam", "hls")
	if _, err := reg.Publish("cam", "rtmp", videoAudio); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(context.Background()); !errors.Is(err, ErrEnded) {
		t.Fatalf("reader of the replaced publisher: %v", err)
	}
	first.Close() // must not take the new publisher's path offline
	if len(reg.List()) != 1 {
		t.Fatal("the old publisher's close ended the new one's path")
	}
}

func TestValidatePath(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"cam", "live/cam1", "a.b/c-d_e"} {
		if err := ValidatePath(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/cam", "cam/", "a//b", "a/../b", "a/+/b", "#", "a b", "ü", strings.Repeat("a", 257)} {
		if err := ValidatePath(bad); !errors.Is(err, ErrBadPath) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzValidatePath: an accepted path is a plain topic suffix (no
// wildcards, no empty levels), so media/<path> and $media/<path> are names.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"live/cam1", "a//b", "+", "..", "a/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidatePath(s) != nil {
			return
		}
		if strings.ContainsAny(s, "+#\x00") || strings.Contains(s, "//") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
			t.Fatalf("accepted %q", s)
		}
	})
}

func TestTicksRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, time.Millisecond * 33, 26 * time.Hour, 400 * 24 * time.Hour} {
		if got := Duration(Ticks(d, 90000), 90000); got-d > time.Microsecond*12 || d-got > time.Microsecond*12 {
			t.Errorf("%v came back as %v", d, got)
		}
	}
}

// A shared reader (RTSP's one stream, HLS's one muxer) counts as the
// peers that joined it: 0, 1, 2 and back, in GET /v1/media and $media.
func TestSharedReaderCountsItsPeers(t *testing.T) {
	t.Parallel()
	reg, sink := newTestRegistry(Config{})
	defer reg.Close()
	if _, err := reg.Publish("live/cam1", "test", videoAudio); err != nil {
		t.Fatal(err)
	}
	rd, err := reg.ReadShared("live/cam1", "rtsp")
	if err != nil {
		t.Fatal(err)
	}
	want := func(n int) {
		t.Helper()
		if got := reg.List()[0].Readers["rtsp"]; got != n {
			t.Fatalf("listed rtsp readers %d, want %d", got, n)
		}
		if got := sink.last(); !strings.Contains(got, `"readers":{`) || (n > 0) != strings.Contains(got, `"rtsp":`) {
			t.Fatalf("state %s, want %d rtsp readers", got, n)
		}
	}
	want(0)
	leave1 := rd.Join()
	want(1)
	leave2 := rd.Join()
	want(2)
	leave1()
	leave1() // once only
	want(1)
	leave2()
	want(0)
	plain, err := reg.Read("live/cam1", "rtmp")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got := reg.List()[0].Readers; got["rtmp"] != 1 || got["rtsp"] != 0 {
		t.Fatalf("readers %v", got)
	}
}

// A publisher's readers count a shared reader as its peers: RTSP keeps its
// one stream after its last session leaves, and a remote copy of a path
// (internal/cluster) must still see no reader then, or it is fed forever.
func TestPublisherReadersCountsPeers(t *testing.T) {
	t.Parallel()
	reg, _ := newTestRegistry(Config{})
	defer reg.Close()
	pb, err := reg.Publish("live/cam1", "test", videoAudio)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := reg.ReadShared("live/cam1", "rtsp")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	want := func(n int) {
		t.Helper()
		if got := pb.Readers(); got != n {
			t.Fatalf("Readers() %d, want %d", got, n)
		}
	}
	want(0)
	leave := rd.Join()
	want(1)
	leave()
	want(0)
	plain, err := reg.Read("live/cam1", "rtmp")
	if err != nil {
		t.Fatal(err)
	}
	want(1)
	plain.Close()
	want(0)
}
