package hub

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"streamhub/internal/core/message"
)

// ErrKicked ends a subscription an operator disconnected (admin API); each
// transport closes with its own protocol's reason for it.
var ErrKicked = errors.New("disconnected by an administrator")

// Kick unsubscribes every filter and ends the subscription with ErrKicked.
func (s *Subscription) Kick() {
	s.kind.hub.unsubscribeAll(s)
	s.end(ErrKicked)
}

// Filters returns the subscription's filters, sorted.
func (s *Subscription) Filters() []string {
	s.kind.hub.mu.Lock()
	defer s.kind.hub.mu.Unlock()
	out := slices.AppendSeq(make([]string, 0, s.filters.Len()), s.filters.All)
	slices.Sort(out)
	return out
}

// Queued is the number of deliveries waiting in the queue.
func (s *Subscription) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// maxTrackedTopics and maxTrackedNameBytes bound the per-topic statistics
// the hub keeps for the admin API: past either, new topics are not listed.
// Names may be 64 KiB long: ten thousand of those would hold 640 MiB.
const (
	maxTrackedTopics    = 10000
	maxTrackedNameBytes = 16 << 20
)

// maxLastPayload bounds the payloads the topic statistics keep alive: a
// larger last message is remembered by its size only, so 10000 topics
// hold at most about 10 MiB of payloads.
const maxLastPayload = 1 << 10

// topicStats is what the hub remembers about one topic name.
type topicStats struct {
	count    uint64
	last     *message.Message // nil when its payload was over maxLastPayload
	lastSize int
	// The rate is worked out when read, not per publish (a publish only
	// counts): messages since the last sample over the time since.
	rate      float64
	sampled   bool
	seenCount uint64
	seenAt    time.Time
}

// topicTable holds the statistics of the topics seen; guarded by Hub.mu.
type topicTable struct {
	byName    map[string]*topicStats
	nameBytes int // of the names in byName
}

// rateAt is st's message rate as of now: over the time since the previous
// sample when that is at least a second (taking a new sample), else the
// previous sample's (or, before any, the count of the first second).
func (st *topicStats) rateAt(now time.Time) float64 {
	dt := now.Sub(st.seenAt)
	if dt < time.Second {
		if st.sampled {
			return st.rate
		}
		return float64(st.count - st.seenCount)
	}
	st.rate = float64(st.count-st.seenCount) / dt.Seconds()
	st.seenCount, st.seenAt, st.sampled = st.count, now, true
	return st.rate
}

// record counts m on its topic; the caller holds Hub.mu.
func (t *topicTable) record(m *message.Message) {
	if t.byName == nil {
		t.byName = make(map[string]*topicStats)
	}
	st := t.byName[m.Topic]
	if st == nil {
		if len(t.byName) >= maxTrackedTopics || t.nameBytes+len(m.Topic) > maxTrackedNameBytes {
			return
		}
		st = &topicStats{seenAt: m.Time}
		t.byName[m.Topic] = st
		t.nameBytes += len(m.Topic)
	}
	st.count++
	st.last, st.lastSize = nil, len(m.Payload)
	if len(m.Payload) <= maxLastPayload {
		st.last = m
	}
}

// TopicInfo describes one topic name the hub has seen.
type TopicInfo struct {
	Name     string
	Messages uint64  // published since the hub started
	Rate     float64 // messages per second since the previous read (at least 1 s before)
	// Last is the last message, nil if its payload was over 1 KiB;
	// LastSize is its payload's size.
	Last     *message.Message
	LastSize int
	Retained bool
	Durable  bool
}

// Topics lists the topics seen since the hub started (at most 10000) and
// those with a retained message, sorted by name.
func (h *Hub) Topics() []TopicInfo {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]TopicInfo, 0, len(h.topics.byName)+len(h.retained))
	for name, st := range h.topics.byName {
		_, retained := h.retained[name]
		out = append(out, TopicInfo{Name: name, Messages: st.count, Rate: st.rateAt(now), Last: st.last,
			LastSize: st.lastSize, Retained: retained, Durable: h.engine.Durable(name)})
	}
	for name, m := range h.retained {
		if _, seen := h.topics.byName[name]; !seen {
			out = append(out, TopicInfo{Name: name, Last: m, LastSize: len(m.Payload), Retained: true, Durable: h.engine.Durable(name)})
		}
	}
	slices.SortFunc(out, func(a, b TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// RetainedMessages returns every retained message, sorted by topic.
func (h *Hub) RetainedMessages() []*message.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*message.Message, 0, len(h.retained))
	for _, m := range h.retained {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *message.Message) int { return cmp.Compare(a.Topic, b.Topic) })
	return out
}

// Watched reports whether any subscription's filters match the topic name,
// so that a publisher of statistics can skip work, and the history window,
// while nobody reads them.
func (h *Hub) Watched(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	watched := false
	h.subs.Match(name, func(*Subscription) { watched = true })
	return watched
}
