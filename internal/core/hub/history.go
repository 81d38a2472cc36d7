package hub

import (
	"slices"
	"strings"
	"time"

	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// history is the in-memory record of recent messages: one window per
// stream, a topic family named by the topic's first level ("sensors" for
// "sensors/1/temp"), so that a busy family never evicts a quiet one's
// resume window. Each window is bounded by count and age; all windows
// together by bytes, the largest giving way first. Guarded by Hub.mu.
type history struct {
	limits  Config
	windows map[string]*window
	bytes   int // every window's
	count   int
	// evicted is the highest sequence evicted by a window that has since
	// emptied and been dropped: a family without a window may have lost
	// messages up to it (it starts at the engine's head).
	evicted uint64
	// recent is the window last pushed to (of recentFamily): publishes
	// come in runs on one family, and a string compare is cheaper than
	// the map.
	recent       *window
	recentFamily string
}

// window is one family's messages in cursor order.
type window struct {
	msgs []*message.Message // msgs[head:] are held, oldest first
	// meta[i] describes msgs[i]: eviction reads it, sequentially, instead
	// of the old message itself, which is long out of the CPU's caches.
	meta  []histMeta
	head  int
	bytes int
	// evicted is the highest sequence dropped from this window.
	evicted uint64
}

type histMeta struct {
	seq  uint64
	at   int64 // Time in Unix nanoseconds
	size int
}

// familyOf is the stream a topic's history belongs to: its first level.
func familyOf(name string) string {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return name
}

// familyMatches reports whether filter can match a topic of family.
func familyMatches(family, filter string) bool {
	first := familyOf(filter)
	if first == "+" || first == "#" {
		return family == "" || family[0] != '$'
	}
	return first == family
}

func (w *window) len() int { return len(w.msgs) - w.head }

func (w *window) held() []*message.Message { return w.msgs[w.head:] }

func (r *history) len() int { return r.count }

func (r *history) push(m *message.Message) {
	if r.limits.HistoryMessages <= 0 {
		r.evicted = m.Seq
		return
	}
	family := familyOf(m.Topic)
	w := r.recent
	if w == nil || r.recentFamily != family {
		w = r.windows[family]
	}
	if w == nil {
		if r.windows == nil {
			r.windows = make(map[string]*window)
		}
		w = &window{evicted: r.evicted}
		r.windows[family] = w
	}
	size := m.Size()
	w.msgs = append(w.msgs, m)
	w.meta = append(w.meta, histMeta{seq: m.Seq, at: m.Time.UnixNano(), size: size})
	w.bytes += size
	r.bytes += size
	r.count++
	r.trim(w, r.limits.HistoryMessages, r.cutoff(m.Time))
	if r.bytes > r.limits.HistoryBytes {
		r.shed(w)
	}
	r.recent, r.recentFamily = w, family
	r.dropIfEmpty(family, w)
}

// cutoff is the Unix time in nanoseconds before which messages are too old.
func (r *history) cutoff(now time.Time) int64 {
	if r.limits.HistoryAge <= 0 {
		return 0
	}
	return now.Add(-r.limits.HistoryAge).UnixNano()
}

// trim evicts w's oldest messages while it holds more than max or they
// are older than cutoff.
func (r *history) trim(w *window, max int, cutoff int64) {
	for w.len() > 0 && (w.len() > max || w.meta[w.head].at < cutoff) {
		r.evictOldest(w)
	}
	w.compact()
}

// shed brings every window together back under the byte limit: w (just
// grown) gives way if it holds at least its share, else the largest
// window does, down to a little under the limit so that the scan for it
// is not repeated at every publish.
func (r *history) shed(w *window) {
	if w.bytes*len(r.windows) >= r.bytes {
		for r.bytes > r.limits.HistoryBytes && w.len() > 0 {
			r.evictOldest(w)
		}
		w.compact()
		return
	}
	target := r.limits.HistoryBytes - r.limits.HistoryBytes/16
	for r.bytes > target {
		family, largest := r.largest()
		for r.bytes > target && largest.len() > 0 {
			r.evictOldest(largest)
		}
		largest.compact()
		r.dropIfEmpty(family, largest)
	}
}

func (r *history) largest() (string, *window) {
	var family string
	var largest *window
	for f, w := range r.windows {
		if largest == nil || w.bytes > largest.bytes {
			family, largest = f, w
		}
	}
	return family, largest
}

func (r *history) evictOldest(w *window) {
	old := &w.meta[w.head]
	w.bytes -= old.size
	r.bytes -= old.size
	r.count--
	w.evicted = old.seq
	w.msgs[w.head] = nil
	w.head++
}

// compact drops the dead prefix once it is half the slice, keeping push
// amortised O(1).
func (w *window) compact() {
	if w.head > 0 && w.head >= len(w.msgs)/2 {
		n := copy(w.msgs, w.msgs[w.head:])
		clear(w.msgs[n:])
		w.msgs = w.msgs[:n]
		copy(w.meta, w.meta[w.head:])
		w.meta = w.meta[:n]
		w.head = 0
	}
}

// dropIfEmpty forgets an empty window, keeping what it evicted.
func (r *history) dropIfEmpty(family string, w *window) {
	if w.len() == 0 {
		r.evicted = max(r.evicted, w.evicted)
		delete(r.windows, family)
		if r.recent == w {
			r.recent = nil
		}
	}
}

// evictedFor is the highest sequence that may have left the windows the
// filters read: the windows hold every matching message after it. Windows
// past their age are trimmed first, so that a quiet family's stale
// messages count as evicted.
func (r *history) evictedFor(filters []string) uint64 {
	evicted := r.evicted
	cutoff := r.cutoff(time.Now())
	for family, w := range r.windows {
		if !anyFamilyMatch(family, filters) {
			continue
		}
		if cutoff > 0 {
			r.trim(w, r.limits.HistoryMessages, cutoff)
			r.dropIfEmpty(family, w)
		}
		evicted = max(evicted, w.evicted)
	}
	return evicted
}

func anyFamilyMatch(family string, filters []string) bool {
	for _, f := range filters {
		if familyMatches(family, f) {
			return true
		}
	}
	return false
}

// after returns the held messages with a sequence above seq that match any
// filter, in cursor order; gap reports that messages after seq may already
// have been evicted.
func (r *history) after(seq uint64, filters []string) (out []Delivery, gap bool) {
	gap = r.evictedFor(filters) > seq
	windows := 0
	for family, w := range r.windows {
		if !anyFamilyMatch(family, filters) {
			continue
		}
		held := w.held()
		i, _ := slices.BinarySearchFunc(held, seq+1, func(m *message.Message, s uint64) int {
			switch {
			case m.Seq < s:
				return -1
			case m.Seq > s:
				return 1
			}
			return 0
		})
		if n := len(out); appendMatching(&out, held[i:], filters) > n {
			windows++
		}
	}
	if windows > 1 {
		out = sortDedupe(out)
	}
	return out, gap
}

func appendMatching(out *[]Delivery, msgs []*message.Message, filters []string) int {
	now := time.Now()
	for _, m := range msgs {
		if m.Expired(now) {
			continue
		}
		for _, f := range filters {
			if topic.Match(f, m.Topic) {
				*out = append(*out, Delivery{Msg: m})
				break
			}
		}
	}
	return len(*out)
}

// sortDedupe orders deliveries by cursor and drops repeats.
func sortDedupe(ds []Delivery) []Delivery {
	slices.SortFunc(ds, func(a, b Delivery) int {
		switch {
		case a.Msg.Seq < b.Msg.Seq:
			return -1
		case a.Msg.Seq > b.Msg.Seq:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(ds, func(a, b Delivery) bool { return a.Msg == b.Msg })
}
