package media

import (
	"context"
	"sync"
	"sync/atomic"
)

// Reader is one consumer of a path, with its own bounded queue: when the
// queue fills, everything in it is dropped (and counted) and the reader
// resumes at the next keyframe, so decoders see no broken references.
type Reader struct {
	path     *path
	protocol string
	wake     chan struct{}
	once     sync.Once
	// shared: the reader feeds peers of its own (RTSP sessions, HLS
	// clients) and counts as the peers that joined it, not as one.
	shared bool
	peers  atomic.Int64

	mu      sync.Mutex
	queue   []Frame
	bytes   int
	waitKey bool // skipping until a keyframe (at start and after overflow)
	err     error
	skipped int
}

// Tracks are the path's tracks; Frame.Track indexes them.
func (rd *Reader) Tracks() []Track { return rd.path.tracks }

// Path is the path's name.
func (rd *Reader) Path() string { return rd.path.name }

// push queues f; called with the path's read lock held.
func (rd *Reader) push(f Frame, hasVideo bool) {
	startsGOP := f.Keyframe && (!hasVideo || rd.path.tracks[f.Track].Video())
	rd.mu.Lock()
	if rd.waitKey && !startsGOP {
		rd.mu.Unlock()
		return
	}
	rd.waitKey = false
	limits := rd.path.registry.cfg
	if len(rd.queue) >= limits.QueueFrames || rd.bytes+f.size() > limits.QueueBytes {
		dropped := len(rd.queue) + 1
		rd.queue, rd.bytes = rd.queue[:0], 0
		rd.skipped += dropped
		rd.waitKey = !startsGOP
		if startsGOP {
			rd.queue, rd.bytes = append(rd.queue, f), f.size()
			dropped--
		}
		rd.mu.Unlock()
		if o := rd.path.registry.observe; o != nil {
			o.MediaSkipped(rd.protocol, dropped)
		}
		rd.signal()
		return
	}
	rd.queue = append(rd.queue, f)
	rd.bytes += f.size()
	rd.mu.Unlock()
	rd.signal()
}

func (rd *Reader) signal() {
	select {
	case rd.wake <- struct{}{}:
	default:
	}
}

func (rd *Reader) end(err error) {
	rd.mu.Lock()
	if rd.err == nil {
		rd.err = err
	}
	rd.mu.Unlock()
	rd.signal()
}

// Next returns the next frame, waiting for one; once the path ends and the
// queue is drained it returns ErrEnded.
func (rd *Reader) Next(ctx context.Context) (Frame, error) {
	for {
		rd.mu.Lock()
		if len(rd.queue) > 0 {
			f := rd.queue[0]
			rd.queue[0] = Frame{}
			rd.queue = rd.queue[1:]
			rd.bytes -= f.size()
			rd.mu.Unlock()
			return f, nil
		}
		err := rd.err
		rd.mu.Unlock()
		if err != nil {
			return Frame{}, err
		}
		select {
		case <-rd.wake:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// Skipped is how many frames this reader lost to catching up.
func (rd *Reader) Skipped() int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.skipped
}

// Join counts one more peer of a shared reader (Registry.ReadShared) in
// the path's readers, until leave is called.
func (rd *Reader) Join() (leave func()) {
	rd.peers.Add(1)
	rd.path.announce()
	var once sync.Once
	return func() {
		once.Do(func() {
			rd.peers.Add(-1)
			if rd.path.hasReader(rd) {
				rd.path.announce()
			}
		})
	}
}

// counted is how many readers rd stands for in the path's state.
func (rd *Reader) counted() int {
	if rd.shared {
		return int(rd.peers.Load())
	}
	return 1
}

// Close leaves the path.
func (rd *Reader) Close() {
	rd.once.Do(func() {
		rd.end(ErrClosed)
		if rd.path.removeReader(rd) {
			rd.path.announce()
		}
	})
}
