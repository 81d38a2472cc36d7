package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Listed is a recorded segment as an HLS playlist lists it: a media
// segment (its fragment) on the playlist's timeline, after the init
// section of the segment named Init.
type Listed struct {
	Name     string // file name, as InitSection and Fragment take it
	Start    time.Time
	Duration time.Duration
	// Offset is where the segment starts on the playlist's timeline: the
	// durations of the segments before it, holes left out, so the
	// timestamps Fragment writes run on without a jump.
	Offset time.Duration
	// Discontinuity: a new publishing session, new tracks or a hole comes
	// before this segment; the player resets its decoder and reads Init.
	Discontinuity bool
	Init          string // the segment whose init section this one plays after
}

// holeTolerance is the hole (or overlap) between two segments of one
// session that still plays on without a discontinuity: the rounding of
// segment names to microseconds, not a lost segment.
const holeTolerance = 50 * time.Millisecond

// Listing lists the segments of path overlapping [start, start+d), or all
// that end after start when d is zero (an event playlist growing with the
// recording), oldest first; ErrNoRecording when there are none. Each
// segment's head is read to tell sessions and tracks apart.
func (r *Recorder) Listing(path string, start time.Time, d time.Duration) ([]Listed, error) {
	segs, err := segments(r.pathDir(path))
	if err != nil {
		return nil, err
	}
	if d > 0 {
		segs = overlapping(segs, start, d)
	} else {
		segs = endingAfter(segs, start)
	}
	var out []Listed
	var prevInit uint64
	var prevEnd time.Time
	var offset time.Duration
	for _, s := range segs {
		head, err := r.head(s.file)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed by retention meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("record: %s: %w", s.file, err)
		}
		l := Listed{Name: filepath.Base(s.file), Start: s.Start, Duration: s.Duration, Offset: offset}
		hole := s.Start.Sub(prevEnd)
		l.Discontinuity = len(out) > 0 &&
			(head.seq == 0 || head.init != prevInit || hole > holeTolerance || hole < -holeTolerance)
		if len(out) == 0 || l.Discontinuity {
			l.Init = l.Name
		} else {
			l.Init = out[len(out)-1].Init
		}
		out = append(out, l)
		prevInit, prevEnd = head.init, s.end()
		offset += s.Duration
	}
	if len(out) == 0 {
		return nil, ErrNoRecording
	}
	return out, nil
}

// endingAfter are the segments that end after start.
func endingAfter(segs []Segment, start time.Time) []Segment {
	var out []Segment
	for _, s := range segs {
		if s.end().After(start) {
			out = append(out, s)
		}
	}
	return out
}

// segmentHead is what Listing needs of a segment: its init section (a
// hash, to tell changed tracks) and its fragment's sequence number.
type segmentHead struct {
	init uint64
	seq  uint32
}

// head is file's segmentHead, read once and then cached.
func (r *Recorder) head(file string) (segmentHead, error) {
	r.headsMu.Lock()
	h, ok := r.heads[file]
	r.headsMu.Unlock()
	if ok {
		return h, nil
	}
	init, seq, err := readHead(file)
	if err != nil {
		return segmentHead{}, err
	}
	h = segmentHead{init: maphash.Bytes(r.headSeed, init), seq: seq}
	r.headsMu.Lock()
	r.heads[file] = h
	r.headsMu.Unlock()
	return h, nil
}

// forgetHead drops file's cached head once the file is removed.
func (r *Recorder) forgetHead(file string) {
	r.headsMu.Lock()
	delete(r.heads, file)
	r.headsMu.Unlock()
}

// readHead reads a segment file's init section and its fragment's
// sequence number (zero: the first segment of a publishing session)
// without reading the samples.
func readHead(file string) (init []byte, seq uint32, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	return parseHead(f)
}

// parseHead is readHead's parser, over any segment's bytes.
func parseHead(r io.ReaderAt) (init []byte, seq uint32, err error) {
	var hdr [8]byte
	var off int64
	for {
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return nil, 0, fmt.Errorf("broken segment: %w", err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		if typ := string(hdr[4:]); typ != "ftyp" && typ != "moov" {
			break
		}
		if size < 8 || off+size > maxInit {
			return nil, 0, errors.New("broken init section")
		}
		off += size
	}
	if off == 0 {
		return nil, 0, errors.New("no init section")
	}
	init = make([]byte, off)
	if _, err := r.ReadAt(init, 0); err != nil {
		return nil, 0, fmt.Errorf("broken init section: %w", err)
	}
	// moof: size, type; mfhd: size, type, version and flags, sequence.
	var mfhd [24]byte
	if _, err := r.ReadAt(mfhd[:], off); err != nil || string(mfhd[4:8]) != "moof" || string(mfhd[12:16]) != "mfhd" {
		return nil, 0, errors.New("no fragment after the init section")
	}
	return init, binary.BigEndian.Uint32(mfhd[20:]), nil
}

// maxInit bounds an init section's boxes (a few hundred bytes in practice).
const maxInit = 1 << 20

// segmentFile is the file of the segment name of path; ErrNoRecording
// unless name is a segment's.
func (r *Recorder) segmentFile(path, name string) (string, error) {
	if _, ok := parseName(name); !ok || filepath.Base(name) != name {
		return "", ErrNoRecording
	}
	return filepath.Join(r.pathDir(path), name), nil
}

// readSegment reads a segment file and splits it at its init section.
func (r *Recorder) readSegment(path, name string) (init, rest []byte, err error) {
	file, err := r.segmentFile(path, name)
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, ErrNoRecording
	}
	if err != nil {
		return nil, nil, fmt.Errorf("record: %w", err)
	}
	init, rest, err = splitInit(data)
	if err != nil {
		return nil, nil, fmt.Errorf("record: %s: %w", name, err)
	}
	return init, rest, nil
}

// InitSection is the init section (ftyp, moov) of the segment name of
// path: an HLS playlist's EXT-X-MAP.
func (r *Recorder) InitSection(path, name string) ([]byte, error) {
	file, err := r.segmentFile(path, name)
	if err != nil {
		return nil, err
	}
	init, _, err := readHead(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoRecording
	}
	if err != nil {
		return nil, fmt.Errorf("record: %s: %w", name, err)
	}
	return init, nil
}

// Fragment is the fragment (moof, mdat) of the segment name of path, its
// times moved to start at offset: an HLS media segment at its place on
// the playlist's timeline.
func (r *Recorder) Fragment(path, name string, offset time.Duration) ([]byte, error) {
	init, rest, err := r.readSegment(path, name)
	if err != nil {
		return nil, err
	}
	if err := retime(init, rest, offset, nil); err != nil {
		return nil, fmt.Errorf("record: %s: %w", name, err)
	}
	return rest, nil
}
