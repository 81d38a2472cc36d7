package mqtt

import (
	"encoding/json"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// SessionStore keeps persistent sessions across restarts; the store
// package implements it.
type SessionStore interface {
	SaveSession(id string, rec []byte) error
	DeleteSession(id string) error
	Sessions() (map[string][]byte, error)
}

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
	// Holder is the cluster node that holds the session (cluster.go).
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
	for _, o := range ss.inflight {
		if o.group == nil && o.msg.Seq > 0 && o.msg.Seq-1 < c && o.msg.Epoch == ss.epoch {
			c = o.msg.Seq - 1
		}
	}
	for _, p := range ss.pending {
		if p.group == nil && !p.retained && p.msg.Seq > 0 && p.msg.Seq-1 < c && p.msg.Epoch == ss.epoch {
			c = p.msg.Seq - 1
		}
	}
	return c
}

// persist saves the session if it outlives its connection; sessions that
// end with their connection are not stored (on a cluster they are, while
// connected: the record tells the other nodes which node holds them).
func (ss *session) persist() {
	st, cl := ss.srv.cfg.Sessions, ss.srv.cfg.Cluster
	if (st == nil && cl == nil) || ss.srv.stopped.Load() {
		return
	}
	if cl != nil {
		ss.saveMu.Lock() // the revision each save compares with
		defer ss.saveMu.Unlock()
		if ss.lost {
			return
		}
	}
	ss.mu.Lock()
	if ss.ended || (ss.expiry == 0 && (cl == nil || ss.conn == nil)) {
		ss.mu.Unlock()
		return
	}
	rec := sessionRecord{Owner: ss.owner, Client: ss.clientID, Expiry: ss.expiry,
		Cursor: message.Cursor{Epoch: ss.epoch, Seq: ss.cursorLocked()}.String(),
		Shared: map[string]subRec{}, Restricted: ss.restricted}
	if cl != nil {
		rec.Holder = cl.Node()
	}
	if ss.conn == nil {
		rec.Disconnected = time.Now()
	}
	for f, o := range ss.filters {
		rec.Filters = append(rec.Filters, filterRecord{Filter: f, subRec: toRec(o)})
	}
	for f, o := range ss.shared {
		rec.Shared[f] = toRec(o)
	}
	ss.saved = rec.Cursor
	ss.mu.Unlock()
	b, _ := json.Marshal(rec)
	if cl != nil {
		ss.saveShared(cl, b)
		return
	}
	if err := st.SaveSession(ss.id, b); err != nil {
		ss.srv.log.Error("saving MQTT session", "client", ss.clientID, "owner", ss.owner, "err", err)
	}
}

func (ss *session) forget() {
	if ss.srv.closing.Load() {
		return
	}
	if cl := ss.srv.cfg.Cluster; cl != nil {
		ss.forgetShared(cl)
		return
	}
	if st := ss.srv.cfg.Sessions; st != nil {
		if err := st.DeleteSession(ss.id); err != nil {
			ss.srv.log.Error("deleting MQTT session", "client", ss.clientID, "owner", ss.owner, "err", err)
		}
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

// restoreSessions recreates the stored sessions, disconnected, each
// resuming after its cursor and expiring on its old schedule.
func (s *Server) restoreSessions(epoch string) {
	recs, err := s.cfg.Sessions.Sessions()
	if err != nil {
		s.log.Error("loading MQTT sessions", "err", err)
		return
	}
	for id, b := range recs {
		var rec sessionRecord
		if json.Unmarshal(b, &rec) != nil || !s.restoreSession(id, &rec, epoch) {
			s.cfg.Sessions.DeleteSession(id)
		}
	}
	if len(recs) > 0 {
		s.log.Info("restored MQTT sessions", "sessions", len(s.sessions))
	}
}

// restoreSession recreates a stored session, disconnected, resuming after
// its cursor and expiring on its old schedule; false if the record is of
// no use (expired, of another epoch, under another name).
func (s *Server) restoreSession(id string, rec *sessionRecord, epoch string) bool {
	if rec.Client == "" && rec.Owner == "" {
		rec.Client = id // stored before sessions had owners
	}
	cursor, cerr := message.ParseCursor(rec.Cursor)
	left := rec.left()
	if cerr != nil || cursor.Epoch != epoch || left <= 0 || sessionKey(rec.Owner, rec.Client) != id {
		return false
	}
	ss := s.newSession(id)
	ss.owner, ss.clientID = rec.Owner, rec.Client
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
			ss.shared[f] = o.opts()
			s.joinGroup(group, filter, f, ss, o.opts())
		}
	}
	bound := ss.bound
	ss.timer = s.startTimer(left, ss, "session expiry", func() { s.expire(ss, bound) })
	return true
}
