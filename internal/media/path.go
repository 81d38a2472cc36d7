package media

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp8"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// path is one online media path: its publisher's tracks and its readers.
type path struct {
	registry *Registry
	name     string
	protocol string
	tracks   []Track
	hasVideo bool
	since    time.Time
	bytes    atomic.Uint64

	// remote: a local copy of a path another node publishes
	// (Registry.PublishRemote), whose state that node publishes.
	remote bool
	// release gives back the path's cluster claim, or stops a remote
	// copy's feed; called once, when the path ends.
	release func()

	mu      sync.RWMutex
	readers map[*Reader]struct{}
	ended   bool
}

// announce publishes the path's state, unless another node owns it.
func (p *path) announce() {
	if !p.remote {
		p.registry.publishState(p.state())
	}
}

// Readers is how many readers the path has on this node, counted as in
// its state: a shared reader (RTSP's stream, HLS's muxer) as its peers, so
// that one whose peers all left lets a remote copy end.
func (pb *Publisher) Readers() int {
	pb.path.mu.RLock()
	defer pb.path.mu.RUnlock()
	n := 0
	for rd := range pb.path.readers {
		n += rd.counted()
	}
	return n
}

func newPath(r *Registry, name, protocol string, tracks []Track) *path {
	p := &path{registry: r, name: name, protocol: protocol, tracks: tracks, since: time.Now(),
		readers: map[*Reader]struct{}{}}
	for _, t := range tracks {
		p.hasVideo = p.hasVideo || t.Video()
	}
	return p
}

func (p *path) addReader(protocol string, shared bool) (*Reader, error) {
	rd := &Reader{path: p, protocol: protocol, shared: shared, waitKey: true, wake: make(chan struct{}, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return nil, ErrEnded
	}
	p.readers[rd] = struct{}{}
	return rd, nil
}

func (p *path) hasReader(rd *Reader) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, ok := p.readers[rd]
	return ok
}

func (p *path) removeReader(rd *Reader) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.readers[rd]
	delete(p.readers, rd)
	return ok
}

// end tells every reader the path is over; they drain what they hold first.
func (p *path) end() {
	p.mu.Lock()
	release := p.release
	p.release = nil
	p.ended = true
	readers := p.readers
	p.readers = map[*Reader]struct{}{}
	p.mu.Unlock()
	for rd := range readers {
		rd.end(ErrEnded)
	}
	if release != nil {
		release()
	}
}

func (p *path) write(f Frame) {
	p.bytes.Add(uint64(f.size()))
	f = p.withParameterSets(f)
	p.mu.RLock()
	defer p.mu.RUnlock()
	for rd := range p.readers {
		rd.push(f, p.hasVideo)
	}
}

// withParameterSets puts the track's parameter sets in front of a
// keyframe that lacks them (see WithParameterSets).
func (p *path) withParameterSets(f Frame) Frame {
	if f.Keyframe && f.Track >= 0 && f.Track < len(p.tracks) {
		f.Units = WithParameterSets(p.tracks[f.Track], f.Units)
	}
	return f
}

// WithParameterSets returns the keyframe units with the track's SPS and
// PPS (and VPS) in front when they lack them: RTMP and RTSP publishers
// send them once, out of band, and a reader joining at a later keyframe
// (or a DTS extractor) needs them in-band.
func WithParameterSets(t Track, units [][]byte) [][]byte {
	var params [][]byte
	switch t.Codec {
	case H264:
		if hasH264Params(units) || t.SPS == nil || t.PPS == nil {
			return units
		}
		params = [][]byte{t.SPS, t.PPS}
	case H265:
		if hasH265Params(units) || t.VPS == nil || t.SPS == nil || t.PPS == nil {
			return units
		}
		params = [][]byte{t.VPS, t.SPS, t.PPS}
	default:
		return units
	}
	return append(params, units...)
}

func hasH264Params(units [][]byte) bool {
	for _, u := range units {
		if len(u) > 0 && h264.NALUType(u[0]&0x1f) == h264.NALUTypeSPS {
			return true
		}
	}
	return false
}

func hasH265Params(units [][]byte) bool {
	for _, u := range units {
		if len(u) > 0 && h265.NALUType((u[0]>>1)&0x3f) == h265.NALUType_SPS_NUT {
			return true
		}
	}
	return false
}

// IsKeyframe reports whether units (one access unit of codec) can start
// decoding; audio frames always can.
func IsKeyframe(codec string, units [][]byte) bool {
	switch codec {
	case H264:
		return h264.IsRandomAccess(units)
	case H265:
		return h265.IsRandomAccess(units)
	case VP8:
		return len(units) > 0 && vp8.IsRandomAccess(units[0])
	case VP9:
		return len(units) > 0 && vp9.IsRandomAccess(units[0])
	}
	return true
}

// Publisher is the one writer of a path.
type Publisher struct {
	path *path
	once sync.Once
}

// Tracks are the tracks the publisher announced.
func (pb *Publisher) Tracks() []Track { return pb.path.tracks }

// Write hands a frame to every reader; it never blocks on them.
func (pb *Publisher) Write(f Frame) { pb.path.write(f) }

// Close ends the path: readers drain and are told, the state goes offline.
func (pb *Publisher) Close() {
	pb.once.Do(func() {
		pb.path.registry.remove(pb.path)
		pb.path.end()
	})
}
