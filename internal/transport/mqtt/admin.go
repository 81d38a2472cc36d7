package mqtt

import (
	"cmp"
	"slices"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/registry"
)

// codeKicked is the v5 DISCONNECT reason of a client an administrator
// disconnected (3.1.1 clients just see the connection close).
var codeKicked = packets.ErrAdministrativeAction

// register lists c in the connection registry until it ends. The entry
// asks the connection for its queue, remote address and kick (listedConn)
// rather than keeping copies and closures.
func (c *conn) register() {
	c.listing = c.srv.cfg.Registry.Register(registry.Conn{Transport: "mqtt", Identity: c.userName(),
		ClientID: c.clientID(), Queue: (*listedConn)(c)})
}

// listedConn is a connection as the registry sees it: its session's queue
// (registry.Queue, registry.Wrapper), and how to reach and kick it
// (registry.Remoter, registry.Kicker).
type listedConn conn

func (l *listedConn) Filters() []string { return sessionQueue{l.sess}.Filters() }
func (l *listedConn) Queued() int       { return l.sess.sub.Queued() }
func (l *listedConn) Dropped() uint64   { return l.sess.sub.Dropped() }
func (l *listedConn) Unwrap() any       { return l.sess.sub }
func (l *listedConn) Remote() string    { return l.nc.RemoteAddr().String() }
func (l *listedConn) Kick()             { (*conn)(l).kick(codeKicked) }

// sessionQueue shows a session's filters, plain and shared, and its hub
// queue to the registry.
type sessionQueue struct{ ss *session }

func (q sessionQueue) Filters() []string {
	q.ss.mu.Lock()
	out := make([]string, 0, len(q.ss.routes)+len(q.ss.shared))
	for _, r := range q.ss.routes {
		out = append(out, r.filter)
	}
	for f := range q.ss.shared {
		out = append(out, f)
	}
	q.ss.mu.Unlock()
	slices.Sort(out)
	return out
}

// Unwrap names the session's hub subscription, so that what the hub
// reports about it (a subscribe) finds this connection in the registry.
func (q sessionQueue) Unwrap() any { return q.ss.sub }

func (q sessionQueue) Queued() int     { return q.ss.sub.Queued() }
func (q sessionQueue) Dropped() uint64 { return q.ss.sub.Dropped() }

// SessionInfo describes one MQTT session for the admin API.
type SessionInfo struct {
	ClientID  string        `json:"client_id"`
	Owner     string        `json:"owner,omitempty"`
	Connected bool          `json:"connected"`
	Filters   []string      `json:"filters"`
	Queued    int           `json:"queued"`
	Inflight  int           `json:"inflight"`
	Dropped   uint64        `json:"dropped"`
	Expiry    time.Duration `json:"expiry_ns"`
}

// Sessions lists every session, connected or waiting for its client.
func (s *Server) Sessions() []SessionInfo {
	sessions := s.sessionList()
	out := make([]SessionInfo, 0, len(sessions))
	for _, ss := range sessions {
		q := sessionQueue{ss}
		info := SessionInfo{ClientID: ss.clientID(), Owner: ss.owner, Filters: q.Filters(), Queued: q.Queued(), Dropped: q.Dropped()}
		ss.mu.Lock()
		info.Connected = ss.conn != nil
		info.Inflight = ss.inflight.len()
		info.Expiry = ss.expiry
		ss.mu.Unlock()
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Owner, b.Owner))
	})
	return out
}
