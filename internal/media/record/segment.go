package record

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"streamhub/internal/media"
)

// track is one recorded track: its fMP4 description, the sample whose
// duration waits for its successor, and the samples of the open segment.
type track struct {
	id       int
	rate     int
	video    bool
	codec    mp4codecs.Codec
	pending  *fmp4.Sample
	pendDTS  int64
	lastDur  uint32
	samples  []*fmp4.Sample
	firstDTS int64 // of samples[0]
	endDTS   int64 // after the last sample in samples
}

// codecToMP4 is the fMP4 description of t, or nil for codecs fMP4
// recording does not carry (the ones HLS fMP4 carries are).
func codecToMP4(t media.Track) mp4codecs.Codec {
	switch {
	case t.Codec == media.H264:
		return &mp4codecs.H264{SPS: t.SPS, PPS: t.PPS}
	case t.Codec == media.H265:
		return &mp4codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}
	case t.Codec == media.AAC && t.AAC != nil:
		return &mp4codecs.MPEG4Audio{Config: *t.AAC}
	case t.Codec == media.Opus:
		return &mp4codecs.Opus{ChannelCount: max(t.Channels, 1)}
	}
	return nil
}

// segmenter cuts one publishing session of a path into segment files:
// each one an init section and one fragment, starting at a video keyframe
// (any frame without video), written as NAME.part and renamed into place
// once complete, so a crash leaves every finished segment playable.
type segmenter struct {
	dir      string
	min      time.Duration
	log      *slog.Logger
	tracks   []*track // by media track index; nil: not recorded
	init     []byte
	hasVideo bool
	done     func(seg Segment) // after each finished segment

	started  bool
	origin   time.Time     // wall time of the session's time zero
	segStart time.Duration // session time the open segment starts at
	seq      uint32
}

func newSegmenter(dir string, min time.Duration, tracks []media.Track, log *slog.Logger) (*segmenter, error) {
	s := &segmenter{dir: dir, min: min, log: log, tracks: make([]*track, len(tracks))}
	var init fmp4.Init
	for i, t := range tracks {
		c := codecToMP4(t)
		if c == nil {
			log.Info("track not recorded: fMP4 recording carries H.264, H.265, AAC and Opus", "track", i, "codec", t.Codec)
			continue
		}
		tr := &track{id: len(init.Tracks) + 1, rate: t.ClockRate, video: t.Video(), codec: c}
		s.tracks[i] = tr
		s.hasVideo = s.hasVideo || tr.video
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: tr.id, TimeScale: uint32(t.ClockRate), Codec: c})
	}
	if len(init.Tracks) == 0 {
		return nil, fmt.Errorf("record: no track fMP4 carries")
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("record: init section: %w", err)
	}
	s.init = buf.Bytes()
	return s, nil
}

// sample is one fMP4 sample and its decoding time in track ticks.
type sample struct {
	dts int64
	*fmp4.Sample
}

// samples splits a frame into fMP4 samples: one per access unit.
func samples(tr *track, f media.Frame) ([]sample, error) {
	switch c := tr.codec.(type) {
	case *mp4codecs.H264:
		s, err := fmp4.NewSampleH264(int32(f.PTS-f.DTS), f.Units)
		if err != nil {
			return nil, err
		}
		s.IsNonSyncSample = !f.Keyframe
		return []sample{{f.DTS, s}}, nil
	case *mp4codecs.H265:
		s, err := fmp4.NewSampleH265(int32(f.PTS-f.DTS), f.Units)
		if err != nil {
			return nil, err
		}
		s.IsNonSyncSample = !f.Keyframe
		return []sample{{f.DTS, s}}, nil
	case *mp4codecs.MPEG4Audio:
		out := make([]sample, 0, len(f.Units))
		step := int64(mpeg4audio.SamplesPerAccessUnit) * int64(tr.rate) / int64(max(c.Config.SampleRate, 1))
		for i, u := range f.Units {
			out = append(out, sample{f.PTS + int64(i)*step, &fmp4.Sample{Payload: u}})
		}
		return out, nil
	case *mp4codecs.Opus:
		out := make([]sample, 0, len(f.Units))
		dts := f.PTS
		for _, u := range f.Units {
			out = append(out, sample{dts, &fmp4.Sample{Payload: u}})
			dts += media.Ticks(opus.PacketDuration(u), tr.rate)
		}
		return out, nil
	}
	return nil, nil
}

// write adds a frame, finishing the open segment first when the frame
// starts a new one.
func (s *segmenter) write(f media.Frame) error {
	if f.Track < 0 || f.Track >= len(s.tracks) || s.tracks[f.Track] == nil {
		return nil
	}
	tr := s.tracks[f.Track]
	all, err := samples(tr, f)
	if err != nil {
		return fmt.Errorf("record: track %d: %w", f.Track, err)
	}
	for _, sm := range all {
		at := media.Duration(sm.dts, tr.rate)
		if !s.started {
			s.started, s.origin, s.segStart = true, f.NTP.Add(-at), at
		}
		startsSegment := !sm.IsNonSyncSample && (tr.video || !s.hasVideo) && at-s.segStart >= s.min
		if startsSegment {
			if err := s.cut(tr, sm.dts, at); err != nil {
				return err
			}
		} else if tr.pending != nil {
			tr.settle(sm.dts)
			s.add(tr)
		}
		tr.pending, tr.pendDTS = sm.Sample, sm.dts
	}
	return nil
}

// settle gives the pending sample its duration, now that its successor's
// decoding time is known.
func (tr *track) settle(next int64) {
	d := max(next-tr.pendDTS, 1)
	tr.pending.Duration, tr.lastDur = uint32(d), uint32(d)
}

// add moves tr's pending sample into the open segment (dropped if it
// decodes before the segment starts: audio interleaved just before the
// first keyframe).
func (s *segmenter) add(tr *track) {
	smp, dts := tr.pending, tr.pendDTS
	tr.pending = nil
	if media.Duration(dts, tr.rate) < s.segStart {
		return
	}
	if len(tr.samples) == 0 {
		tr.firstDTS = dts
	}
	tr.samples = append(tr.samples, smp)
	tr.endDTS = dts + int64(smp.Duration)
}

// cut finishes the open segment at the keyframe of tr decoding at dts
// (session time at) and opens the next there.
func (s *segmenter) cut(tr *track, dts int64, at time.Duration) error {
	if tr.pending != nil {
		tr.settle(dts)
		s.add(tr)
	}
	for _, o := range s.tracks {
		if o == nil || o == tr || o.pending == nil || media.Duration(o.pendDTS, o.rate) >= at {
			continue
		}
		// Its successor is not here yet: the track's last duration
		// (exact for audio, whose frames have one length).
		o.pending.Duration = max(o.lastDur, 1)
		s.add(o)
	}
	err := s.flush(at)
	s.segStart = at
	return err
}

// finish writes the open segment with every pending sample: the path ended.
func (s *segmenter) finish() error {
	end := s.segStart
	for _, tr := range s.tracks {
		if tr != nil && tr.pending != nil {
			tr.pending.Duration = max(tr.lastDur, 1)
			s.add(tr)
		}
		if tr != nil && len(tr.samples) > 0 {
			end = max(end, media.Duration(tr.endDTS, tr.rate))
		}
	}
	return s.flush(end)
}

// flush writes the open segment's samples, ending at session time end, as
// one file: NAME.part first, renamed into place once synced.
func (s *segmenter) flush(end time.Duration) error {
	part := fmp4.Part{SequenceNumber: s.seq}
	for _, tr := range s.tracks {
		if tr == nil || len(tr.samples) == 0 {
			continue
		}
		base := tr.firstDTS - media.Ticks(s.segStart, tr.rate)
		part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: tr.id, BaseTime: uint64(max(base, 0)), Samples: tr.samples})
		tr.samples = nil
	}
	if len(part.Tracks) == 0 || end <= s.segStart {
		return nil
	}
	s.seq++
	// Sized once: grown by doubling, a segment of a few MB was copied
	// three or four times and its buffer held up to twice its size.
	buf := seekablebuffer.Buffer{}
	buf.Grow(len(s.init) + fragmentSize(part))
	if _, err := buf.Write(s.init); err != nil {
		return err
	}
	if err := part.Marshal(&buf); err != nil {
		return fmt.Errorf("record: fragment: %w", err)
	}
	seg := Segment{Start: s.origin.Add(s.segStart).UTC(), Duration: end - s.segStart, Bytes: int64(buf.Len())}
	if err := writeAtomic(filepath.Join(s.dir, seg.name()), buf.Bytes()); err != nil {
		return err
	}
	if s.done != nil {
		s.done(seg)
	}
	return nil
}

// A fragment's size beside its samples' payloads: at most fragmentHeader
// bytes of boxes (moof, mfhd, a traf per track, mdat) and sampleEntry
// bytes of trun per sample (duration, size, flags, composition offset).
const (
	fragmentHeader = 1024
	sampleEntry    = 16
)

// fragmentSize is at least the bytes part marshals to.
func fragmentSize(part fmp4.Part) int {
	n := fragmentHeader
	for _, t := range part.Tracks {
		for _, smp := range t.Samples {
			n += sampleEntry + len(smp.Payload)
		}
	}
	return n
}

// writeAtomic writes data to name.part, syncs it and renames it to name.
func writeAtomic(name string, data []byte) error {
	tmp := name + partSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("record: segment %s: %w", name, err)
	}
	return nil
}
