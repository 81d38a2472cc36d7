package mqtt

import (
	"log/slog"
	"sync"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// Sharing spreads the messages of $share groups over the nodes of a
// cluster, each message to one node with members of its group: a
// capability a cluster engine offers (the cluster package's MQTT). A node
// alone (Config.Sharing nil) feeds its groups from its own hub.
type Sharing interface {
	// Share delivers the messages of filter that the cluster gives this
	// node out of queue group queue: each to one node only.
	Share(queue, filter string, deliver func(*message.Message)) (stop func(), err error)
	// CheckShare refuses a $share group (its queue and filter) that the
	// cluster could not carry: the SUBSCRIBE is refused before anything
	// reaches it.
	CheckShare(queue, filter string) error
}

// groupSource opens the feeds of $share groups, the one way the groups
// reach their messages: hubGroups on a node alone, queueGroups over a
// cluster's Sharing (chosen once, in New).
type groupSource interface {
	// check refuses a group the source cannot carry.
	check(key, filter string) error
	// open opens the feed of group key, the full $share/GROUP/FILTER.
	open(key, filter string) (groupFeed, error)
}

// groupFeed is where a shared group's messages come from.
type groupFeed interface {
	Ready() <-chan struct{}
	DrainUpTo(buf []hub.Delivery, n int) []hub.Delivery
	// follow is told, each round of the group, whether one of its members
	// here is connected.
	follow(connected bool)
	Close()
}

var (
	_ groupFeed = hubFeed{}
	_ groupFeed = (*queueFeed)(nil)
)

func (s *Server) groupSource() groupSource {
	if s.cfg.Sharing == nil {
		return hubGroups{s}
	}
	return queueGroups{s}
}

// followMembers tells the group's feed whether a member is connected here.
func (g *sharedGroup) followMembers() {
	g.mu.Lock()
	connected := false
	for _, m := range g.member {
		connected = connected || m.ss.active.Load() != nil
	}
	g.mu.Unlock()
	g.feed.follow(connected)
}

// hubGroups feeds each group from a subscription to this node's hub,
// which queues the group's messages while no member is connected.
type hubGroups struct{ s *Server }

func (hubGroups) check(string, string) error { return nil }

func (h hubGroups) open(_, filter string) (groupFeed, error) {
	sub := h.s.hub.NewSubscription("mqtt-shared", h.s.cfg.Queue)
	if _, err := sub.Subscribe([]string{filter}, hub.StartFrom{}); err != nil {
		sub.Close()
		return nil, err
	}
	return hubFeed{sub}, nil
}

type hubFeed struct{ *hub.Subscription }

func (hubFeed) follow(bool) {}

// queueGroups feeds each group from the cluster's queue group of the same
// name, which hands each message to one node with members of the group.
type queueGroups struct{ s *Server }

func (q queueGroups) check(key, filter string) error { return q.s.cfg.Sharing.CheckShare(key, filter) }

func (q queueGroups) open(key, filter string) (groupFeed, error) {
	s := q.s
	f := &queueFeed{ready: make(chan struct{}, 1), max: s.cfg.Queue.Messages, dropped: func() {
		s.remote.Log(slog.LevelWarn, "shared subscription queue full: oldest message dropped", "transport", "mqtt", "filter", key)
	}}
	f.open = func() (func(), error) { return s.cfg.Sharing.Share(key, filter, f.push) }
	if err := f.resume(); err != nil {
		return nil, err
	}
	return f, nil
}

// queueFeed queues what a cluster queue subscription delivers, at most max
// messages (the oldest go first, as a session's queue). The subscription
// is held only while a member of the group is connected to this node
// (pause): NATS then gives the group's messages to the nodes whose members
// can take them.
type queueFeed struct {
	mu      sync.Mutex
	msgs    []*message.Message
	max     int
	dropped func() // logs a drop (rate-limited)
	ready   chan struct{}
	// subMu guards stop, the queue subscription's end (nil while
	// paused), and closed.
	subMu  sync.Mutex
	open   func() (stop func(), err error)
	stop   func()
	closed bool
}

// resume takes the group's share of messages again, if it did not.
func (f *queueFeed) resume() error {
	f.subMu.Lock()
	defer f.subMu.Unlock()
	if f.stop != nil || f.closed {
		return nil
	}
	stop, err := f.open()
	if err != nil {
		return err
	}
	f.stop = stop
	return nil
}

// pause leaves the group's messages to the other nodes.
func (f *queueFeed) pause() {
	f.subMu.Lock()
	defer f.subMu.Unlock()
	if f.stop != nil {
		f.stop()
		f.stop = nil
	}
}

// follow holds the queue subscription while a member is connected.
func (f *queueFeed) follow(connected bool) {
	if connected {
		_ = f.resume() // failed: tried again at the group's next round
		return
	}
	f.pause()
}

func (f *queueFeed) push(m *message.Message) {
	f.mu.Lock()
	full := len(f.msgs) >= f.max
	if full {
		f.msgs[0] = nil
		f.msgs = f.msgs[1:]
	}
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	if full {
		f.dropped()
	}
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

func (f *queueFeed) Ready() <-chan struct{} { return f.ready }

func (f *queueFeed) DrainUpTo(buf []hub.Delivery, n int) []hub.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	buf = buf[:0]
	n = min(n, len(f.msgs))
	for _, m := range f.msgs[:n] {
		buf = append(buf, hub.Delivery{Msg: m})
	}
	clear(f.msgs[:n])
	f.msgs = f.msgs[n:]
	return buf
}

func (f *queueFeed) Close() {
	f.subMu.Lock()
	f.closed = true
	f.subMu.Unlock()
	f.pause()
}
