package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	partSuffix = ".part"
	segSuffix  = ".mp4"
	// nameLayout is a segment's start in its file name:
	// 20261207T100000.123456Z_10040000us.mp4 (start, then duration).
	nameLayout = "20060102T150405.000000Z"
	// spanTolerance joins segments into one span across a hole this small
	// (a takeover, a publisher that reconnects at once).
	spanTolerance = time.Second
)

// ErrNoRecording: nothing recorded in the asked time.
var ErrNoRecording = errors.New("record: nothing recorded in that time")

// Segment is one finished segment file.
type Segment struct {
	Start    time.Time
	Duration time.Duration
	Bytes    int64
	file     string
}

func (s Segment) name() string {
	return s.Start.UTC().Format(nameLayout) + "_" + strconv.FormatInt(s.Duration.Microseconds(), 10) + "us" + segSuffix
}

func (s Segment) end() time.Time { return s.Start.Add(s.Duration) }

// parseName reads a segment's start and duration from its file name.
func parseName(name string) (Segment, bool) {
	base, ok := strings.CutSuffix(name, "us"+segSuffix)
	if !ok {
		return Segment{}, false
	}
	start, dur, ok := strings.Cut(base, "_")
	if !ok {
		return Segment{}, false
	}
	t, err := time.Parse(nameLayout, start)
	if err != nil {
		return Segment{}, false
	}
	us, err := strconv.ParseInt(dur, 10, 64)
	if err != nil || us < 0 {
		return Segment{}, false
	}
	return Segment{Start: t, Duration: time.Duration(us) * time.Microsecond}, true
}

// segments lists the finished segments in dir, oldest first.
func segments(dir string) ([]Segment, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	var out []Segment
	for _, e := range entries {
		seg, ok := parseName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		seg.Bytes, seg.file = info.Size(), filepath.Join(dir, e.Name())
		out = append(out, seg)
	}
	slices.SortFunc(out, func(a, b Segment) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// Span is a stretch of time recorded without a hole.
type Span struct {
	Start    time.Time `json:"start"`
	Duration float64   `json:"duration"` // seconds, as MediaMTX's playback server lists them
}

func spans(segs []Segment) []Span {
	var out []Span
	var end time.Time
	for _, s := range segs {
		if len(out) > 0 && s.Start.Sub(end) <= spanTolerance {
			end = later(end, s.end())
			last := &out[len(out)-1]
			last.Duration = end.Sub(last.Start).Seconds()
			continue
		}
		end = s.end()
		out = append(out, Span{Start: s.Start, Duration: s.Duration.Seconds()})
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Summary is what is recorded of one path.
type Summary struct {
	Path  string    `json:"path"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"` // end of the newest segment
	Bytes int64     `json:"bytes"`
}

// overlapping are the segments that overlap [start, start+d).
func overlapping(segs []Segment, start time.Time, d time.Duration) []Segment {
	end := start.Add(d)
	var out []Segment
	for _, s := range segs {
		if s.Start.Before(end) && s.end().After(start) {
			out = append(out, s)
		}
	}
	return out
}

// splitInit splits a segment file into its init section (ftyp, moov) and
// its fragments.
func splitInit(data []byte) (init, rest []byte, err error) {
	off := 0
	for off+8 <= len(data) {
		size := int(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		if typ != "ftyp" && typ != "moov" {
			break
		}
		if size < 8 || off+size > len(data) {
			return nil, nil, errors.New("record: broken init section")
		}
		off += size
	}
	if off == 0 {
		return nil, nil, errors.New("record: no init section")
	}
	return data[:off], data[off:], nil
}

// concat writes segs as one fMP4 file to w: the first segment's init
// section, then every fragment with its times moved to the file's
// timeline (the first segment's start is zero; holes stay holes). It
// stops before a segment whose tracks differ (the publisher changed
// codecs): one file has one init section.
func concat(w io.Writer, segs []Segment) error {
	var first []byte
	var seq uint32
	var zero time.Time
	for _, seg := range segs {
		data, err := os.ReadFile(seg.file)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed by retention meanwhile
			}
			return fmt.Errorf("record: %w", err)
		}
		init, rest, err := splitInit(data)
		if err != nil {
			return fmt.Errorf("record: %s: %w", seg.file, err)
		}
		if first == nil {
			first, zero = init, seg.Start
			if _, err := w.Write(init); err != nil {
				return err
			}
		} else if !bytes.Equal(init, first) {
			return nil
		}
		if err := retime(init, rest, seg.Start.Sub(zero), &seq); err != nil {
			return fmt.Errorf("record: %s: %w", seg.file, err)
		}
		if _, err := w.Write(rest); err != nil {
			return err
		}
	}
	return nil
}

// ParseWindow reads a playback request's start (RFC 3339) and duration
// (a Go duration, e.g. 60s); an empty duration is zero unless required.
// The error is the request's fault, worded for its answer.
func ParseWindow(start, duration string, durationRequired bool) (time.Time, time.Duration, error) {
	t, err := time.Parse(time.RFC3339Nano, start)
	if err != nil {
		return time.Time{}, 0, errors.New("start: want an RFC 3339 time, e.g. 2026-12-07T10:00:00Z")
	}
	if duration == "" && !durationRequired {
		return t, 0, nil
	}
	d, err := time.ParseDuration(duration)
	if err != nil || d <= 0 {
		return time.Time{}, 0, errors.New("duration: want a positive duration, e.g. 60s")
	}
	return t, d, nil
}
