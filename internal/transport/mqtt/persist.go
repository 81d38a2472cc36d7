package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/sessions"
)

// sessionRecord is what survives a restart: the subscriptions, the expiry,
// and the cursor up to which the session has everything. After a restart
// the session resumes after that cursor, so the QoS 1/2 messages it had
// not received yet (those on durable topics, which the store keeps) are
// delivered again; in-memory-only messages do not survive.
type sessionRecord struct {
	// Owner and Client name the session (sessionKey); records from before
	// sessions had owners have neither, and are anonymous sessions named
	// by their key.
	Owner        string            `json:"owner,omitempty"`
	Client       string            `json:"client,omitempty"`
	Expiry       time.Duration     `json:"expiry"`
	Disconnected time.Time         `json:"disconnected,omitzero"`
	Filters      []filterRecord    `json:"filters"`
	Cursor       string            `json:"cursor"`
	Shared       map[string]subRec `json:"shared,omitempty"`
	// Restricted: messages are checked against the owner's read rights.
	Restricted bool `json:"restricted,omitempty"`
	// Holder is the node that holds the session (nodes.go); none on a
	// node alone.
	Holder string `json:"holder,omitempty"`
}

type filterRecord struct {
	Filter string `json:"filter"`
	subRec
}

type subRec struct {
	QoS            byte `json:"qos"`
	NoLocal        bool `json:"no_local,omitempty"`
	RAP            bool `json:"rap,omitempty"`
	RetainHandling byte `json:"rh,omitempty"`
	ID             int  `json:"id,omitempty"`
}

func toRec(o subOpts) subRec {
	return subRec{QoS: o.qos, NoLocal: o.noLocal, RAP: o.rap, RetainHandling: o.retainHandling, ID: o.id}
}

func (r subRec) opts() subOpts {
	return subOpts{qos: r.QoS, noLocal: r.NoLocal, rap: r.RAP, retainHandling: r.RetainHandling, id: r.ID}
}

// cursorLocked is the position before the first message the session has
// not finished with; the caller holds ss.mu.
func (ss *session) cursorLocked() uint64 {
	c := ss.delivered
	for _, o := range ss.inflight.all() {
		if o.group == nil && o.msg.Seq > 0 && o.msg.Seq-1 < c && o.msg.Epoch == ss.epoch() {
			c = o.msg.Seq - 1
		}
	}
	for _, p := range ss.pending {
		if p.group == nil && !p.retained && p.msg.Seq > 0 && p.msg.Seq-1 < c && p.msg.Epoch == ss.epoch() {
			c = p.msg.Seq - 1
		}
	}
	return c
}

// storeTimeout bounds each exchange with the session store (the
// cluster's bucket: a NATS round trip).
const storeTimeout = 5 * time.Second

// storeContext bounds an exchange with the session store by storeTimeout,
// except with the in-memory store, which never waits: a deadline there
// would only hold a timer per CONNECT for storeTimeout.
func (s *Server) storeContext() (context.Context, context.CancelFunc) {
	if _, ok := s.cfg.Sessions.(*sessions.Memory); ok {
		return s.ctx, func() {}
	}
	return context.WithTimeout(s.ctx, storeTimeout)
}

// persist saves the session's record if the session outlives its
// connection; a session that ends with its connection has a record only
// while connected, and only where other nodes look for it (Nodes.Node).
// Each save is a compare-and-set on the revision this copy last wrote or
// read, so that a copy another node (or a newer copy here) took over
// writes nothing.
func (ss *session) persist() {
	if ss.srv.stopped.Load() {
		return
	}
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	if ss.lost {
		return
	}
	ss.mu.Lock()
	if ss.ended || (ss.expiry == 0 && (ss.conn == nil || !ss.srv.announce)) {
		ss.mu.Unlock()
		return
	}
	rec := sessionRecord{Owner: ss.owner, Client: ss.clientID(), Expiry: ss.expiry,
		Cursor: message.Cursor{Epoch: ss.epoch(), Seq: ss.cursorLocked()}.String(),
		Shared: map[string]subRec{}, Restricted: ss.restricted, Holder: ss.srv.nodes.Node()}
	if ss.conn == nil {
		rec.Disconnected = time.Now()
	}
	for _, r := range ss.routes {
		rec.Filters = append(rec.Filters, filterRecord{Filter: r.filter, subRec: toRec(r.opts)})
	}
	for f, o := range ss.shared {
		rec.Shared[f] = toRec(o)
	}
	ss.saved = rec.Cursor
	ss.mu.Unlock()
	b, _ := json.Marshal(rec)
	ss.save(b)
}

// save writes the record b of ss, compared with the revision last seen;
// when another revision is there it reads it: if this copy still holds
// the session (its own earlier write, or a deletion) it writes again,
// else another node (or a newer copy here) holds the session and this
// copy stays unsaved. The caller holds ss.saveMu.
func (ss *session) save(b []byte) {
	s := ss.srv
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	for range 3 {
		next, err := s.cfg.Sessions.Save(ctx, ss.id, b, ss.rev)
		if err == nil {
			ss.rev = next
			return
		}
		if !errors.Is(err, sessions.ErrConflict) {
			s.log.Error("saving MQTT session", "client", ss.clientID(), "owner", ss.owner, "err", err)
			return
		}
		cur, rev, err := s.loadRecord(ctx, ss.id)
		if err != nil {
			return
		}
		if cur != nil && cur.Holder != s.nodes.Node() {
			s.log.Debug("MQTT session held by another node: not saved", "client", ss.clientID(), "holder", cur.Holder)
			return
		}
		if s.session(ss.id) != ss {
			return // a newer copy here holds the record
		}
		ss.rev = rev
	}
}

// forget deletes the session's record if nobody wrote it since.
func (ss *session) forget() {
	s := ss.srv
	if s.closing.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	if ss.lost {
		return
	}
	ss.forgotten = true
	if ss.rev == 0 {
		return
	}
	if err := s.cfg.Sessions.Delete(ctx, ss.id, ss.rev); err != nil && !errors.Is(err, sessions.ErrConflict) {
		s.log.Error("deleting MQTT session", "client", ss.clientID(), "owner", ss.owner, "err", err)
	}
}

// left is how long the stored session has to live; a record of a session
// that ends with its connection (expiry 0) has nothing left.
func (rec *sessionRecord) left() time.Duration {
	left := rec.Expiry
	if !rec.Disconnected.IsZero() {
		left -= time.Since(rec.Disconnected)
	}
	return left
}

// restoreSessions recreates the sessions whose records name this node,
// disconnected, each resuming after its cursor and expiring on its old
// schedule; the records of no use (expired, of another epoch) are
// deleted, those of other nodes left to them.
func (s *Server) restoreSessions(epoch string) {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	entries, err := s.cfg.Sessions.List(ctx)
	if err != nil {
		s.log.Error("loading MQTT sessions", "err", err)
		return
	}
	for _, e := range entries {
		var rec sessionRecord
		bad := json.Unmarshal(e.Record, &rec) != nil
		if !bad && rec.Holder != s.nodes.Node() {
			continue
		}
		if bad || !s.restoreSession(e.Key, &rec, e.Revision, epoch) {
			_ = s.cfg.Sessions.Delete(ctx, e.Key, e.Revision) // a conflict: written since, not this node's to delete
		}
	}
	if len(entries) > 0 {
		s.log.Info("restored MQTT sessions", "sessions", len(s.sessions))
	}
}

// restoreSession recreates a stored session, disconnected, resuming after
// its cursor and expiring on its old schedule, from its record at
// revision rev; false if the record is of no use (expired, of another
// epoch, under another name).
func (s *Server) restoreSession(id string, rec *sessionRecord, rev uint64, epoch string) bool {
	if rec.Client == "" && rec.Owner == "" {
		rec.Client = id // stored before sessions had owners
	}
	cursor, cerr := message.ParseCursor(rec.Cursor)
	left := rec.left()
	if cerr != nil || cursor.Epoch != epoch || left <= 0 || sessionKey(rec.Owner, rec.Client) != id {
		return false
	}
	ss := s.newSession(id)
	ss.owner = rec.Owner
	ss.rev = rev // not shared yet: no saveMu
	if p := s.cfg.Policy; rec.Restricted && !p.Open() {
		// Before the filters, so that the replay is checked too.
		ss.restricted = true
		ss.sub.Restrict(p.ReadCheck(ownerIdentity(p, rec.Owner, rec.Client)))
	}
	ss.expiry = rec.Expiry
	ss.delivered = cursor.Seq
	filters := make([]string, 0, len(rec.Filters))
	for _, f := range rec.Filters {
		ss.setFilter(f.Filter, f.opts())
		filters = append(filters, f.Filter)
	}
	if len(filters) > 0 {
		if _, err := ss.sub.Subscribe(filters, hub.StartFrom{After: &cursor}); err != nil {
			ss.sub.Close()
			return true // as before: neither kept nor deleted
		}
	}
	s.mu.Lock()
	s.addSessionLocked(ss)
	s.mu.Unlock()
	for f, o := range rec.Shared {
		if group, filter, ok := parseShare(f); ok {
			ss.setShared(f, o.opts())
			s.joinGroup(group, filter, f, ss, o.opts())
		}
	}
	ss.mu.Lock()
	bound := ss.bound
	ss.detachedLocked().timer = s.startTimer(left, ss, "session expiry", func() { s.expire(ss, bound) })
	ss.mu.Unlock()
	return true
}
