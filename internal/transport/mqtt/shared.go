package mqtt

import (
	"sync"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// sharedGroup is one $share/GROUP/FILTER: a single feed (a hub
// subscription; on a cluster, a NATS queue subscription shared with the
// other nodes' members: groups.go) whose messages each go to one member.
// Distribution is round-robin over the
// members that are connected and not backed up; a QoS 1/2 message in flight
// to a member that disconnects comes back and goes to another member.
type sharedGroup struct {
	srv    *Server
	key    string // the full $share/GROUP/FILTER
	feed   groupFeed
	wake   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	member []groupMember
	next   int
	back   []*message.Message // returned or not yet placed, sent first
}

type groupMember struct {
	ss   *session
	opts subOpts
}

// maxMemberPending bounds how many messages may wait in one member's
// session before the group tries another member.
const maxMemberPending = 16

func (s *Server) joinGroup(name, filter, key string, ss *session, opts subOpts) {
	s.mu.Lock()
	g := s.groups[key]
	s.mu.Unlock()
	if g == nil {
		g = s.newGroup(key, filter)
		if g == nil {
			return
		}
	}
	g.mu.Lock()
	g.member = append(g.member, groupMember{ss: ss, opts: opts})
	g.mu.Unlock()
	g.poke()
}

// newGroup opens group key's feed, outside s.mu since on a cluster that
// is a NATS round trip, and registers the group, or returns the one
// another join registered meanwhile (nil if the feed failed).
func (s *Server) newGroup(key, filter string) *sharedGroup {
	feed, err := s.feeds.open(key, filter)
	if err != nil {
		s.log.Warn("shared subscription not opened", "transport", "mqtt", "filter", key, "err", err)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[key]; g != nil {
		feed.Close()
		return g
	}
	g := &sharedGroup{srv: s, key: key, feed: feed, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.groups[key] = g
	s.wg.Add(1)
	go g.dispatch()
	return g
}

func (s *Server) updateGroup(key string, ss *session, opts subOpts) {
	s.mu.Lock()
	g := s.groups[key]
	s.mu.Unlock()
	if g == nil {
		return
	}
	g.mu.Lock()
	for i := range g.member {
		if g.member[i].ss == ss {
			g.member[i].opts = opts
		}
	}
	g.mu.Unlock()
}

func (s *Server) leaveGroup(key string, ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[key]
	if g == nil {
		return
	}
	g.mu.Lock()
	for i := range g.member {
		if g.member[i].ss == ss {
			g.member = append(g.member[:i], g.member[i+1:]...)
			break
		}
	}
	empty := len(g.member) == 0
	g.mu.Unlock()
	if empty {
		delete(s.groups, key)
		g.feed.Close()
		close(g.done)
	}
}

func (g *sharedGroup) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// requeue gives back a message a member did not take, to go out first.
func (g *sharedGroup) requeue(m *message.Message) {
	g.mu.Lock()
	g.back = append(g.back, m)
	g.mu.Unlock()
	g.poke()
}

func (g *sharedGroup) dispatch() {
	defer g.srv.wg.Done()
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	var buf []hub.Delivery
	for {
		for g.placeOne(&buf) {
		}
		g.followMembers()
		select {
		case <-g.done:
			return
		case <-g.srv.ctx.Done():
			return
		case <-g.feed.Ready():
		case <-g.wake:
		case <-retry.C: // a member may have caught up or reconnected
		}
	}
}

// placeOne hands the next message to a member; it reports progress.
func (g *sharedGroup) placeOne(buf *[]hub.Delivery) bool {
	g.mu.Lock()
	var m *message.Message
	fromBack := len(g.back) > 0
	if fromBack {
		m = g.back[0]
	}
	members := append([]groupMember(nil), g.member...)
	start := g.next
	g.mu.Unlock()
	if m == nil {
		*buf = g.feed.DrainUpTo(*buf, 1)
		if len(*buf) == 0 {
			return false
		}
		m = (*buf)[0].Msg
		clear(*buf)
	}
	for i := range members {
		mb := members[(start+i)%len(members)]
		if mb.ss.offer(pending{msg: m, group: g, qos: mb.opts.qos, subID: mb.opts.id}) {
			g.mu.Lock()
			g.next = (start + i + 1) % max(1, len(g.member))
			if fromBack && len(g.back) > 0 && g.back[0] == m {
				g.back = g.back[1:]
			}
			g.mu.Unlock()
			return true
		}
	}
	if !fromBack {
		g.mu.Lock()
		g.back = append(g.back, m)
		g.mu.Unlock()
	}
	return false
}

// offer queues a group message if the session is connected and can send
// it now: a QoS 1/2 message needs a free slot in the client's receive
// maximum, so that a member that stops acknowledging stops getting work.
func (ss *session) offer(p pending) bool {
	ss.mu.Lock()
	c := ss.conn
	ok := c != nil && !ss.ended && len(ss.pending) < maxMemberPending
	if ok && min(p.msg.QoS, p.qos) > 0 {
		busy := ss.inflight.len()
		for _, q := range ss.pending {
			if q.group == nil || min(q.msg.QoS, q.qos) > 0 {
				busy++
			}
		}
		ok = busy < int(c.inflightMax)
	}
	if ok {
		ss.pending = append(ss.pending, p)
	}
	ss.mu.Unlock()
	if ok {
		c.poke()
	}
	return ok
}
