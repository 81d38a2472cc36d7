package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"streamhub/internal/core/sessions"
)

// Nodes is where this node's sessions can go: the capability of handing
// a session over between nodes, which a cluster engine offers (the
// cluster package's MQTT, docs/CLUSTER.md "MQTT across nodes"), and a
// node alone has trivially (Config.Nodes nil: a takeover is in-process).
//
// Every record names the node that holds the session (sessionRecord.Holder).
// A CONNECT asks the holder named in the record, when that is another
// node, to hand the session over (close the connection, save the record,
// forget the session) before it reads the record and resumes; every write
// is a compare-and-set on the record's revision (sessions.Store), so that
// a node that lost a session (its handover timed out) cannot overwrite
// it, nor fire its delayed will, afterwards.
type Nodes interface {
	// Node names this node in the records: "" on a node alone, whose
	// records name none. A named node has peers that look up who holds a
	// session, so its records also cover the connected sessions that end
	// with their connection.
	Node() string
	// Handover asks node to hand session key over, and returns once it
	// did, or with an error after a short wait (the node is gone).
	Handover(ctx context.Context, node, key string) error
	// ServeHandovers calls handle for each handover asked of this node,
	// answering once it returned.
	ServeHandovers(handle func(key string)) (stop func(), err error)
}

// alone is the Nodes of a node alone: its records name no node, so it
// never asks a handover, and nobody asks it one.
type alone struct{}

func (alone) Node() string { return "" }

func (alone) Handover(_ context.Context, node, _ string) error {
	return fmt.Errorf("mqtt: handover from node %q asked of a node alone", node)
}

func (alone) ServeHandovers(func(string)) (func(), error) { return func() {}, nil }

// adopt makes this node the holder of session key before a CONNECT claims
// it: the node holding it hands it over, then the session is recreated
// here from its record unless the CONNECT starts clean (or the record
// expired). A copy held here whose record another node holds, or was
// deleted since this copy saved it, is stale and dropped. It returns the
// record's revision, which the session's first save compares with, and
// sessions.ErrInvalidKey for a key the store cannot hold.
func (s *Server) adopt(key string, clean bool) (uint64, error) {
	node := s.nodes.Node()
	ctx, cancel := s.storeContext()
	defer cancel()
	rec, rev, err := s.loadRecord(ctx, key)
	if err == nil && rec != nil && rec.Holder != node {
		hctx, hcancel := context.WithTimeout(ctx, storeTimeout) // the holder is another node, whatever the store
		err := s.nodes.Handover(hctx, rec.Holder, key)
		hcancel()
		if err != nil {
			s.log.Warn("MQTT session not handed over: resuming from its record", "transport", "mqtt",
				"holder", rec.Holder, "err", err)
		}
		rec, rev, err = s.loadRecord(ctx, key)
	}
	if errors.Is(err, sessions.ErrInvalidKey) {
		return 0, err
	}
	if err != nil {
		return 0, nil // the store cannot tell: what this node holds stays as it is
	}
	if local := s.session(key); local != nil && ((rec == nil && local.revision() != 0) || (rec != nil && rec.Holder != node)) {
		s.handOver(key, false)
	}
	if rec != nil && !clean && rec.left() > 0 && s.session(key) == nil && !s.restoreSession(key, rec, rev, s.hub.Epoch()) {
		s.log.Warn("MQTT session record of no use: starting a new session", "transport", "mqtt", "client", rec.Client)
	}
	return rev, nil
}

// loadRecord reads session key's record (nil when there is none or it is
// not one); an error when it could not be read.
func (s *Server) loadRecord(ctx context.Context, key string) (rec *sessionRecord, rev uint64, err error) {
	b, rev, err := s.cfg.Sessions.Load(ctx, key)
	if err != nil {
		if !errors.Is(err, sessions.ErrInvalidKey) { // the client's doing: the caller says
			s.log.Warn("MQTT session record not read", "transport", "mqtt", "err", err)
		}
		return nil, 0, err
	}
	rec = &sessionRecord{}
	if b == nil || json.Unmarshal(b, rec) != nil {
		return nil, rev, nil
	}
	return rec, rev, nil
}

// revision is the revision of the record this copy last wrote or read (0:
// none).
func (ss *session) revision() uint64 {
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	return ss.rev
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
		<-oc.gone.Done()
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

// claimWill decides whether this node fires the delayed will of ss: only
// while the record still names this node, which a compare-and-set of the
// record confirms (a node resuming the session writes it first, and then
// the will is not fired). When the store cannot be read the will fires
// rather than be lost.
func (s *Server) claimWill(ss *session) bool {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	if ss.lost {
		return false
	}
	if ss.forgotten {
		return true // it ended here, held here: a will due meanwhile is this node's
	}
	b, rev, err := s.cfg.Sessions.Load(ctx, ss.id)
	if err != nil {
		return true
	}
	var rec sessionRecord
	if b == nil || json.Unmarshal(b, &rec) != nil || rec.Holder != s.nodes.Node() {
		return false
	}
	next, err := s.cfg.Sessions.Save(ctx, ss.id, b, rev)
	if errors.Is(err, sessions.ErrConflict) {
		return false
	}
	if err == nil {
		ss.rev = next
	}
	return true
}
