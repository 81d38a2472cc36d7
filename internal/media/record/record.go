// Package record records media paths to disk as fMP4 segments and plays
// them back. The recorder is a path reader like any other: it learns which
// paths come online from their retained $media/<path> states in the hub,
// reads each path that matches a rule through its own bounded queue, and
// cuts what it reads into self-contained segment files (init section and
// one fragment) under DIR/<path>/, each renamed into place once complete.
// Retention removes a path's oldest segments past the rule's age or bytes.
package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/topic"
	"streamhub/internal/media"
)

// Rule records the paths matching Filter in segments of at least Segment,
// keeping at most Age and Bytes of each path (zero: no limit).
type Rule struct {
	Filter  string
	Segment time.Duration
	Age     time.Duration
	Bytes   int64
}

// DefaultSegment is a rule's segment duration when it sets none.
const DefaultSegment = 10 * time.Second

// Protocol is the recorder's name among a path's readers.
const Protocol = "record"

// sweepEvery is how often retention looks at every recorded path, online
// or not (finishing a segment also applies it to its path).
const sweepEvery = time.Minute

// Hub is where path states come from.
type Hub interface {
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
}

// Paths is what the recorder reads.
type Paths interface {
	Read(name, protocol string) (*media.Reader, error)
}

// Recorder records the paths its rules match.
type Recorder struct {
	dir   string
	rules []Rule
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// active: paths being recorded; true when the path came online again
	// meanwhile (a takeover), so the recording reads it once more.
	active map[string]bool
	retain sync.Mutex // one retention pass at a time

	// heads caches what Listing reads of each finished segment file (it
	// never changes once in place): an HLS event playlist is fetched
	// again and again, and lists every segment since its start.
	headsMu  sync.Mutex
	heads    map[string]segmentHead // by file; retention drops its entries
	headSeed maphash.Seed
}

// New builds a recorder writing under dir; Start starts it.
func New(dir string, rules []Rule, log *slog.Logger) *Recorder {
	for i := range rules {
		if rules[i].Segment <= 0 {
			rules[i].Segment = DefaultSegment
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Recorder{dir: dir, rules: rules, log: log, ctx: ctx, cancel: cancel, active: map[string]bool{},
		heads: map[string]segmentHead{}, headSeed: maphash.MakeSeed()}
}

// stateQueue bounds the states waiting for the recorder; a path's state is
// republished every media.state, so one dropped is seen again.
var stateQueue = hub.QueueLimits{Messages: 10_000, Bytes: 16 << 20, Overflow: hub.DropOldest}

// Start removes segments a crash left half-written, then records every
// path that is or comes online and matches a rule.
func (r *Recorder) Start(h Hub, paths Paths) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	r.removeParts()
	filters := make([]string, 0, len(r.rules))
	for _, rule := range r.rules {
		filters = append(filters, media.StateTopicPrefix+rule.Filter)
	}
	sub := h.NewSubscription(Protocol, stateQueue)
	if _, err := sub.Subscribe(filters, hub.StartFrom{Retained: true}); err != nil {
		sub.Close()
		return fmt.Errorf("record: subscribe to media states: %w", err)
	}
	r.wg.Add(2)
	go r.watch(sub, paths)
	go r.sweep()
	return nil
}

// Close stops recording: each open segment is written as it stands.
func (r *Recorder) Close() {
	r.cancel()
	r.wg.Wait()
}

func (r *Recorder) watch(sub *hub.Subscription, paths Paths) {
	defer r.wg.Done()
	defer sub.Close()
	var buf []hub.Delivery
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-sub.Done():
			return
		case <-sub.Ready():
		}
		buf = sub.Drain(buf[:0])
		for _, d := range buf {
			var st media.State
			if json.Unmarshal(d.Msg.Payload, &st) != nil || !st.Online {
				continue
			}
			if rule, ok := r.rule(st.Path); ok {
				r.want(st.Path, rule, paths)
			}
		}
		clear(buf)
	}
}

// rule is the first rule matching the path.
func (r *Recorder) rule(path string) (Rule, bool) {
	for _, rule := range r.rules {
		if topic.Match(rule.Filter, path) {
			return rule, true
		}
	}
	return Rule{}, false
}

// Records reports whether path is one the recorder records.
func (r *Recorder) Records(path string) bool {
	_, ok := r.rule(path)
	return ok
}

// Recording reports whether path is being recorded now; once it is not,
// its last segment is written.
func (r *Recorder) Recording(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.active[path]
	return ok
}

// want starts recording an online path, or tells its recording to read
// it again when it ends (the path was taken over or came back at once).
func (r *Recorder) want(path string, rule Rule, paths Paths) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	if _, ok := r.active[path]; ok {
		r.active[path] = true
		return
	}
	r.active[path] = false
	r.wg.Add(1)
	go r.record(path, rule, paths)
}

func (r *Recorder) record(path string, rule Rule, paths Paths) {
	defer r.wg.Done()
	for {
		if rd, err := paths.Read(path, Protocol); err == nil {
			r.session(rd, rule)
			rd.Close()
		}
		r.mu.Lock()
		again := r.active[path] && r.ctx.Err() == nil
		if !again {
			delete(r.active, path)
		} else {
			r.active[path] = false
		}
		r.mu.Unlock()
		if !again {
			return
		}
	}
}

// session records one publisher's stretch of the path until it ends.
func (r *Recorder) session(rd *media.Reader, rule Rule) {
	log := r.log.With("path", rd.Path())
	dir := r.pathDir(rd.Path())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Error("not recorded", "err", err)
		return
	}
	seg, err := newSegmenter(dir, rule.Segment, rd.Tracks(), log)
	if err != nil {
		log.Warn("not recorded", "err", err)
		return
	}
	seg.done = func(Segment) { r.applyRetention(dir, rule) }
	log.Info("recording")
	failed := false
	for {
		f, err := rd.Next(r.ctx)
		if err != nil {
			break
		}
		if err := seg.write(f); err != nil && !failed {
			failed = true // once per session: a full disk would flood the log
			log.Warn("recording", "err", err)
		}
	}
	if err := seg.finish(); err != nil {
		log.Warn("recording", "err", err)
	}
	log.Info("recording ended")
}

func (r *Recorder) pathDir(path string) string { return filepath.Join(r.dir, filepath.FromSlash(path)) }

// applyRetention removes the path's oldest segments past the rule's age
// or bytes; the newest one always stays.
func (r *Recorder) applyRetention(dir string, rule Rule) {
	if rule.Age <= 0 && rule.Bytes <= 0 {
		return
	}
	r.retain.Lock()
	defer r.retain.Unlock()
	segs, err := segments(dir)
	if err != nil || len(segs) < 2 {
		return
	}
	var total int64
	for _, s := range segs {
		total += s.Bytes
	}
	oldest := time.Now().Add(-rule.Age)
	for _, s := range segs[:len(segs)-1] {
		tooOld := rule.Age > 0 && s.end().Before(oldest)
		tooBig := rule.Bytes > 0 && total > rule.Bytes
		if !tooOld && !tooBig {
			break
		}
		if err := os.Remove(s.file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("retention", "file", s.file, "err", err)
			return
		}
		r.forgetHead(s.file)
		total -= s.Bytes
	}
}

// sweep applies retention to every recorded path now and then, so paths
// that stay offline age out too.
func (r *Recorder) sweep() {
	defer r.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		r.walkDirs(func(dir, path string) {
			if rule, ok := r.rule(path); ok {
				r.applyRetention(dir, rule)
			}
		})
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// walkDirs calls f with every directory under the recordings directory
// and the path it records.
func (r *Recorder) walkDirs(f func(dir, path string)) {
	_ = filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == r.dir {
			return nil
		}
		if rel, err := filepath.Rel(r.dir, p); err == nil {
			f(p, filepath.ToSlash(rel))
		}
		return nil
	})
}

// removeParts removes the segments a crash left half-written; the
// finished ones before them play.
func (r *Recorder) removeParts() {
	_ = filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, partSuffix) {
			if err := os.Remove(p); err != nil {
				r.log.Warn("half-written segment not removed", "file", p, "err", err)
			}
		}
		return nil
	})
}

// Spans lists the stretches of time recorded of path, oldest first.
func (r *Recorder) Spans(path string) ([]Span, error) {
	segs, err := segments(r.pathDir(path))
	if err != nil {
		return nil, err
	}
	return spans(segs), nil
}

// Recorded says what is recorded of every path that has segments, sorted
// by path (one directory listing per path).
func (r *Recorder) Recorded() []Summary {
	var out []Summary
	r.walkDirs(func(dir, path string) {
		if s, ok := summarize(dir); ok {
			s.Path = path
			out = append(out, s)
		}
	})
	return out
}

// Summary says what is recorded of path; false when nothing is.
func (r *Recorder) Summary(path string) (Summary, bool) {
	s, ok := summarize(r.pathDir(path))
	s.Path = path
	return s, ok
}

// summarize says what is recorded in dir; false when nothing is.
func summarize(dir string) (Summary, bool) {
	segs, err := segments(dir)
	if err != nil || len(segs) == 0 {
		return Summary{}, false
	}
	s := Summary{First: segs[0].Start}
	for _, seg := range segs {
		s.Bytes += seg.Bytes
		s.Last = later(s.Last, seg.end())
	}
	return s, true
}

// Playback returns a writer of the recording of path from start for d as
// one fMP4 file: the segments overlapping that time, whole (so it may
// start before start and end after start+d, by less than a segment).
// ErrNoRecording when none does.
func (r *Recorder) Playback(path string, start time.Time, d time.Duration) (func(io.Writer) error, error) {
	segs, err := segments(r.pathDir(path))
	if err != nil {
		return nil, err
	}
	segs = overlapping(segs, start, d)
	if len(segs) == 0 {
		return nil, ErrNoRecording
	}
	return func(w io.Writer) error { return concat(w, segs) }, nil
}
