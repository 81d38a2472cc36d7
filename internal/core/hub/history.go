package hub

import (
	"slices"
	"time"

	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// history is the in-memory window of recent messages across all topics, in
// cursor order, bounded by count, bytes and age. Guarded by Hub.mu.
type history struct {
	limits Config
	msgs   []*message.Message // msgs[head:] are held, oldest first
	// meta[i] describes msgs[i]: eviction reads it, sequentially, instead
	// of the old message itself, which is long out of the CPU's caches.
	meta  []histMeta
	head  int
	bytes int
	// evicted is the highest sequence dropped from the window.
	evicted uint64
}

type histMeta struct {
	seq  uint64
	at   int64 // Time in Unix nanoseconds
	size int
}

func (r *history) len() int { return len(r.msgs) - r.head }

func (r *history) push(m *message.Message) {
	if r.limits.HistoryMessages <= 0 {
		r.evicted = m.Seq
		return
	}
	size := m.Size()
	r.msgs = append(r.msgs, m)
	r.meta = append(r.meta, histMeta{seq: m.Seq, at: m.Time.UnixNano(), size: size})
	r.bytes += size
	cutoff := m.Time.Add(-r.limits.HistoryAge).UnixNano()
	for r.len() > 0 {
		old := &r.meta[r.head]
		over := r.len() > r.limits.HistoryMessages || r.bytes > r.limits.HistoryBytes ||
			(r.limits.HistoryAge > 0 && old.at < cutoff)
		if !over {
			break
		}
		r.bytes -= old.size
		r.evicted = old.seq
		r.msgs[r.head] = nil
		r.head++
	}
	// Compact once the dead prefix is half the slice, keeping push amortised O(1).
	if r.head > 0 && r.head >= len(r.msgs)/2 {
		n := copy(r.msgs, r.msgs[r.head:])
		clear(r.msgs[n:])
		r.msgs = r.msgs[:n]
		copy(r.meta, r.meta[r.head:])
		r.meta = r.meta[:n]
		r.head = 0
	}
}

// after returns the held messages with a sequence above seq that match any
// filter; gap reports that messages after seq were already evicted.
func (r *history) after(seq uint64, filters []string) (out []Delivery, gap bool) {
	held := r.msgs[r.head:]
	i, _ := slices.BinarySearchFunc(held, seq+1, func(m *message.Message, s uint64) int {
		switch {
		case m.Seq < s:
			return -1
		case m.Seq > s:
			return 1
		}
		return 0
	})
	return matching(held[i:], filters), r.evicted > seq
}

func (r *history) all(filters []string) []Delivery { return matching(r.msgs[r.head:], filters) }

func matching(msgs []*message.Message, filters []string) []Delivery {
	var out []Delivery
	now := time.Now()
	for _, m := range msgs {
		if m.Expired(now) {
			continue
		}
		for _, f := range filters {
			if topic.Match(f, m.Topic) {
				out = append(out, Delivery{Msg: m})
				break
			}
		}
	}
	return out
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
