package mqtt

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// Cluster is what MQTT shares with the other nodes of a cluster
// (docs/CLUSTER.md, "MQTT across nodes"); the cluster package implements
// it on NATS JetStream. Nil on a single node.
//
// Every session a node holds, connected or persistent, has a record in the
// cluster naming that node (sessionRecord.Holder). A CONNECT on another
// node asks the holder to hand the session over (close the connection,
// save the record, forget the session) before it reads the record and
// resumes; every write is a compare-and-set on the record's revision, so
// that a node that lost a session (its handover timed out) cannot
// overwrite it, nor fire its delayed will, afterwards.
type Cluster interface {
	// Node names this node in the records.
	Node() string
	// LoadSession returns a record and its revision (nil, 0: none).
	LoadSession(ctx context.Context, key string) (rec []byte, rev uint64, err error)
	// SaveSession writes rec if the record is at revision rev (0: none)
	// still, and returns the new revision; ok false when it is not.
	SaveSession(ctx context.Context, key string, rec []byte, rev uint64) (next uint64, ok bool, err error)
	// DeleteSession deletes the record if it is at revision rev still.
	DeleteSession(ctx context.Context, key string, rev uint64) error
	// Handover asks node to hand session key over, and returns once it
	// did, or with an error after a short wait (the node is gone).
	Handover(ctx context.Context, node, key string) error
	// ServeHandovers calls handle for each handover asked of this node,
	// answering once it returned.
	ServeHandovers(handle func(key string)) (stop func(), err error)
	// Share delivers the messages of filter that the cluster gives this
	// node out of queue group queue: each to one node only.
	Share(queue, filter string, deliver func(*message.Message)) (stop func(), err error)
	// CheckKey refuses a session key, and CheckShare a $share group (its
	// queue and filter), that NATS could not carry: the CONNECT or the
	// SUBSCRIBE is refused before anything reaches NATS.
	CheckKey(key string) error
	CheckShare(queue, filter string) error
}

// clusterTimeout bounds each exchange with the cluster about a session.
const clusterTimeout = 5 * time.Second

// adopt makes this node the holder of session key before a CONNECT claims
// it: the node holding it hands it over, then the session is recreated
// here from its record unless the CONNECT starts clean (or the record
// expired). A copy held here that the cluster says another node holds is
// stale and dropped. It returns the record's revision, which the session's
// first save compares with.
func (s *Server) adopt(key string, clean bool) uint64 {
	cl := s.cfg.Cluster
	ctx, cancel := context.WithTimeout(s.ctx, clusterTimeout)
	defer cancel()
	rec, rev, ok := s.loadShared(ctx, key)
	if ok && rec != nil && rec.Holder != cl.Node() {
		if err := cl.Handover(ctx, rec.Holder, key); err != nil {
			s.log.Warn("MQTT session not handed over: resuming from its record", "transport", "mqtt",
				"holder", rec.Holder, "err", err)
		}
		rec, rev, ok = s.loadShared(ctx, key)
	}
	if !ok {
		return 0 // the cluster cannot tell: what this node holds stays as it is
	}
	if local := s.session(key); local != nil && (rec == nil || rec.Holder != cl.Node()) {
		s.handOver(key, false)
	}
	if rec != nil && !clean && rec.left() > 0 && s.session(key) == nil && !s.restoreSession(key, rec, s.hub.Epoch()) {
		s.log.Warn("MQTT session record of no use: starting a new session", "transport", "mqtt", "client", rec.Client)
	}
	return rev
}

// loadShared reads session key's record (nil when there is none or it is
// not one); ok is false when it could not be read.
func (s *Server) loadShared(ctx context.Context, key string) (rec *sessionRecord, rev uint64, ok bool) {
	b, rev, err := s.cfg.Cluster.LoadSession(ctx, key)
	if err != nil {
		s.log.Warn("MQTT session record not read", "transport", "mqtt", "err", err)
		return nil, 0, false
	}
	rec = &sessionRecord{}
	if b == nil || json.Unmarshal(b, rec) != nil {
		return nil, rev, true
	}
	return rec, rev, true
}

func (s *Server) session(key string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[key]
}

// claimed records that this node holds ss now, after its CONNECT: rev is
// the revision adopt read (a session held here already keeps its own).
func (ss *session) claimed(rev uint64) {
	ss.saveMu.Lock()
	if ss.rev == 0 {
		ss.rev = rev
	}
	ss.saveMu.Unlock()
	ss.persist()
}

// serveHandover answers another node's handover request for session key.
func (s *Server) serveHandover(key string) { s.handOver(key, true) }

// handOver gives this node's copy of session key up to another node: its
// connection is closed (v5: DISCONNECT 0x8E, as a takeover on one node),
// its record saved (save false: the copy is stale, another node holds the
// session already and nothing of this copy is written), and it ends here
// without its delayed will (the node resuming it cancels it) and without
// deleting its record.
func (s *Server) handOver(key string, save bool) {
	ss := s.session(key)
	if ss == nil {
		return
	}
	if !save {
		ss.loseRecord()
	}
	ss.mu.Lock()
	oc := ss.conn
	ss.mu.Unlock()
	if oc != nil {
		oc.kick(codeTakenOver)
		<-oc.gone
	}
	if save {
		ss.persist()
	}
	ss.loseRecord()
	s.mu.Lock()
	s.removeSessionLocked(ss)
	// A connection of this node that attached since is the session's no
	// more: once removed, no CONNECT here can attach to it.
	ss.mu.Lock()
	late := ss.conn
	ss.mu.Unlock()
	s.mu.Unlock()
	ss.finish(false)
	if late != nil {
		late.kick(codeTakenOver)
	}
}

// loseRecord stops this copy of the session from writing or deleting its
// record, which another node holds now.
func (ss *session) loseRecord() {
	ss.saveMu.Lock()
	ss.lost = true
	ss.saveMu.Unlock()
}

// saveShared writes the record b of ss, compared with the revision last
// seen; when another revision is there it reads it: if this node still
// holds the session (its own earlier write, or a deletion) it writes
// again, else another node holds the session and this copy stays unsaved.
// The caller holds ss.saveMu.
func (ss *session) saveShared(cl Cluster, b []byte) {
	if ss.lost {
		return
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, clusterTimeout)
	defer cancel()
	for range 3 {
		next, ok, err := cl.SaveSession(ctx, ss.id, b, ss.rev)
		if err != nil {
			ss.srv.log.Error("saving MQTT session", "client", ss.clientID, "owner", ss.owner, "err", err)
			return
		}
		if ok {
			ss.rev = next
			return
		}
		cur, rev, ok := ss.srv.loadShared(ctx, ss.id)
		if !ok {
			return
		}
		if cur != nil && cur.Holder != cl.Node() {
			ss.srv.log.Debug("MQTT session held by another node: not saved", "client", ss.clientID, "holder", cur.Holder)
			return
		}
		ss.rev = rev
	}
}

// forgetShared deletes the session's record if nobody wrote it since.
func (ss *session) forgetShared(cl Cluster) {
	ctx, cancel := context.WithTimeout(ss.srv.ctx, clusterTimeout)
	defer cancel()
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	if ss.rev == 0 || ss.lost {
		return
	}
	if err := cl.DeleteSession(ctx, ss.id, ss.rev); err != nil {
		ss.srv.log.Error("deleting MQTT session", "client", ss.clientID, "owner", ss.owner, "err", err)
	}
}

// claimWill decides whether this node fires the delayed will of ss: on a
// single node always; on a cluster only while the record still names this
// node, which a compare-and-set of the record confirms (a node resuming
// the session writes it first, and then the will is not fired). When the
// cluster cannot be read the will fires rather than be lost.
func (s *Server) claimWill(ss *session) bool {
	cl := s.cfg.Cluster
	if cl == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(s.ctx, clusterTimeout)
	defer cancel()
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	if ss.lost {
		return false
	}
	b, rev, err := cl.LoadSession(ctx, ss.id)
	if err != nil {
		return true
	}
	var rec sessionRecord
	if b == nil || json.Unmarshal(b, &rec) != nil || rec.Holder != cl.Node() {
		return false
	}
	next, ok, err := cl.SaveSession(ctx, ss.id, b, rev)
	if err != nil {
		return true
	}
	if ok {
		ss.rev = next
	}
	return ok
}

// groupFeed is where a shared group's messages come from.
type groupFeed interface {
	Ready() <-chan struct{}
	DrainUpTo(buf []hub.Delivery, n int) []hub.Delivery
	Close()
}

// followMembers lets a cluster group's feed take messages only while one
// of its members here is connected.
func (g *sharedGroup) followMembers() {
	f, ok := g.feed.(*queueFeed)
	if !ok {
		return
	}
	g.mu.Lock()
	connected := false
	for _, m := range g.member {
		connected = connected || m.ss.active.Load() != nil
	}
	g.mu.Unlock()
	f.follow(connected)
}

var (
	_ groupFeed = (*hub.Subscription)(nil)
	_ groupFeed = (*queueFeed)(nil)
)

// openFeed opens the feed of group key: on a single node a hub
// subscription to filter; on a cluster the group's queue subscription,
// which hands each message to one node with members of the group.
func (s *Server) openFeed(key, filter string) (groupFeed, error) {
	if cl := s.cfg.Cluster; cl != nil {
		f := &queueFeed{ready: make(chan struct{}, 1), max: s.cfg.Queue.Messages, dropped: func() {
			s.remote.Log(slog.LevelWarn, "shared subscription queue full: oldest message dropped", "transport", "mqtt", "filter", key)
		}}
		f.open = func() (func(), error) { return cl.Share(key, filter, f.push) }
		if err := f.resume(); err != nil {
			return nil, err
		}
		return f, nil
	}
	sub := s.hub.NewSubscription("mqtt-shared", s.cfg.Queue)
	if _, err := sub.Subscribe([]string{filter}, hub.StartFrom{}); err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
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
