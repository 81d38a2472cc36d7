// Package registry is the core's list of live connections, of every
// protocol: who is connected, from where, since when, to what, how far
// behind, and how to disconnect them. Transports register each connection
// for as long as it lives; the admin API reads and kicks.
package registry

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"streamhub/internal/auth"
)

// Queue is what the registry reads from a connection's subscription
// (*hub.Subscription implements it).
type Queue interface {
	Filters() []string
	Queued() int
	Dropped() uint64
}

// Conn is what a transport tells the registry about a connection.
type Conn struct {
	Transport string
	Identity  string // user name, "" when anonymous
	ClientID  string // MQTT client id, when there is one
	Remote    string
	// Path and Role, for media connections: the media path, and whether
	// the connection publishes it or reads it.
	Path string
	Role string
	// Queue, when set, gives the filters, queue depth and drops.
	Queue Queue
	// Kick disconnects the client with its protocol's reason for an
	// administrator's action; it must not block. nil: the Queue's own
	// Kick method, if it has one (Kicker), so that a connection whose
	// subscription kicks holds no closure for it.
	Kick func()
}

// Kicker is a Queue that kicks its connection itself (Conn.Kick).
type Kicker interface {
	Kick()
}

// Remoter is a Queue that tells its connection's remote address itself
// when Conn.Remote is empty, so that an idle connection's entry keeps no
// copy of it.
type Remoter interface {
	Remote() string
}

// Info is one connection as the admin API lists it.
type Info struct {
	ID        string    `json:"id"`
	Transport string    `json:"transport"`
	Identity  string    `json:"identity,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Remote    string    `json:"remote"`
	Path      string    `json:"path,omitempty"`
	Role      string    `json:"role,omitempty"` // "publisher" or "reader" of Path
	Since     time.Time `json:"since"`
	Filters   []string  `json:"filters"`
	Queued    int       `json:"queued"`
	Dropped   uint64    `json:"dropped"`
}

// entry is one listed connection. Every idle connection holds one, so it
// keeps only what it lists: no copy of Conn (what only some connections
// give behind a pointer, the id a number that also holds the transport's
// name as an index into the registry's names, the time without its
// monotonic reading): 80 bytes, an allocator class of its own. It names
// its registry (which fills the class's last word), so that a Listing is
// one pointer in each connection's state.
type entry struct {
	r                  *Registry
	identity, clientID string
	queue              Queue
	key                uint64 // id<<8 | transport (Registry.transports)
	since              int64  // unix nanoseconds
	// more is what some connections tell besides (nil: nothing): an MQTT
	// connection's queue tells its remote address and kicks it itself.
	more *entryMore
}

// entryMore is an entry's remote address, kick and media details, kept
// when its connection gives them.
type entryMore struct {
	remote string
	kick   func()
	media  *media // nil: not a media connection
}

func (e *entry) id() uint64 { return e.key >> 8 }

// transportNames bounds the distinct transport names a registry tells
// apart; the code has a fixed set of them, far fewer.
const transportNames = 256

type media struct{ path, role string }

// Registry is safe for concurrent use. A nil *Registry registers nothing,
// so transports work without one.
type Registry struct {
	mu    sync.Mutex
	next  uint64
	conns map[uint64]*entry
	// transports are the transport names seen, each written once under mu
	// before any entry refers to it (so read without it by whoever got
	// the entry under mu); ntransports of them are set.
	transports  [transportNames]string
	ntransports int
	// observer hears of every connection and disconnection, and byQueue
	// (made with the observer, nil without one) finds a connection by its
	// subscription (observe.go).
	observer Observer
	byQueue  map[any]*entry
}

// New returns an empty registry.
func New() *Registry { return &Registry{conns: make(map[uint64]*entry)} }

// Add registers c until the returned func runs.
func (r *Registry) Add(c Conn) (remove func()) {
	if r == nil {
		return func() {}
	}
	return r.Register(c).Remove
}

// Listing is a connection listed by Register, until its Remove. A transport
// that keeps it in its connection's state holds no closure for it.
type Listing struct {
	e *entry
}

// Register lists c until the returned Listing's Remove. A nil registry
// lists nothing (its Listing's Remove does nothing).
func (r *Registry) Register(c Conn) Listing {
	if r == nil {
		return Listing{}
	}
	e := &entry{r: r, identity: c.Identity, clientID: c.ClientID, queue: c.Queue, since: time.Now().UnixNano()}
	if c.Remote != "" || c.Kick != nil || c.Path != "" || c.Role != "" {
		e.more = &entryMore{remote: c.Remote, kick: c.Kick}
		if c.Path != "" || c.Role != "" {
			e.more.media = &media{path: c.Path, role: c.Role}
		}
	}
	r.mu.Lock()
	r.next++
	e.key = r.next<<8 | uint64(r.transportLocked(c.Transport))
	r.conns[e.id()] = e
	r.indexLocked(e)
	r.mu.Unlock()
	r.connected(e)
	return Listing{e: e}
}

// transportLocked is the index of name in r.transports, added if new;
// the caller holds r.mu. Past transportNames names, the last one stands
// for every further name (not expected: the names are the code's own).
func (r *Registry) transportLocked(name string) uint8 {
	for i := range r.ntransports {
		if r.transports[i] == name {
			return uint8(i)
		}
	}
	if r.ntransports == transportNames {
		return transportNames - 1
	}
	r.transports[r.ntransports] = name
	r.ntransports++
	return uint8(r.ntransports - 1)
}

// transportOf is e's transport name.
func (r *Registry) transportOf(e *entry) string { return r.transports[uint8(e.key)] }

// Remove unlists the connection; later calls do nothing. The map says
// whether it is still listed (ids are never reused), so that only the
// first call removes it and tells the observer, without a sync.Once per
// connection.
func (l Listing) Remove() {
	e := l.e
	if e == nil {
		return
	}
	r := e.r
	r.mu.Lock()
	if r.conns[e.id()] != e {
		r.mu.Unlock()
		return
	}
	delete(r.conns, e.id())
	r.unindexLocked(e)
	r.mu.Unlock()
	r.disconnected(e)
}

// AddRequest registers an HTTP request's connection (SSE, NDJSON, long
// poll, WebSocket) with the identity the request authenticated as; kick
// ends the subscription, which the transport answers in its own way.
func (r *Registry) AddRequest(req *http.Request, transport string, q Queue, kick func()) (remove func()) {
	return r.AddIdentity(auth.FromContext(req.Context()), transport, req.RemoteAddr, q, kick)
}

// AddIdentity registers a connection of an authenticated identity.
func (r *Registry) AddIdentity(id *auth.Identity, transport, remote string, q Queue, kick func()) (remove func()) {
	return r.Add(Conn{Transport: transport, Identity: id.User, ClientID: id.ClientID, Remote: remote, Queue: q, Kick: kick})
}

// Roles of a media connection on its path.
const (
	RolePublisher = "publisher"
	RoleReader    = "reader"
)

// AddMedia registers a media connection (RTMP, RTSP, HLS, WHEP, WHIP):
// its identity (nil when the policy is open), and the path it publishes
// or reads.
func (r *Registry) AddMedia(id *auth.Identity, transport, remote, path string, publisher bool, kick func()) (remove func()) {
	c := Conn{Transport: transport, Remote: remote, Path: path, Role: RoleReader, Kick: kick}
	if publisher {
		c.Role = RolePublisher
	}
	if id != nil {
		c.Identity, c.ClientID = id.User, id.ClientID
	}
	return r.Add(c)
}

// List returns every live connection, oldest first.
func (r *Registry) List() []Info {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	entries := make([]*entry, 0, len(r.conns))
	for _, e := range r.conns {
		entries = append(entries, e)
	}
	r.mu.Unlock()
	// Read the queues outside r.mu: they take the hub's locks.
	out := make([]Info, 0, len(entries))
	for _, e := range entries {
		out = append(out, r.info(e))
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func (r *Registry) info(e *entry) Info {
	in := r.identify(e)
	if e.queue != nil {
		in.Filters = e.queue.Filters()
		in.Queued = e.queue.Queued()
		in.Dropped = e.queue.Dropped()
	}
	return in
}

// identify is e without what its queue says (filters, depth, drops),
// which takes the queue's locks.
func (r *Registry) identify(e *entry) Info {
	in := Info{ID: strconv.FormatUint(e.id(), 10), Transport: r.transportOf(e), Identity: e.identity, ClientID: e.clientID,
		Since: time.Unix(0, e.since), Filters: []string{}}
	if m := e.more; m != nil {
		in.Remote = m.remote
		if m.media != nil {
			in.Path, in.Role = m.media.path, m.media.role
		}
	}
	if r, ok := e.queue.(Remoter); ok && in.Remote == "" {
		in.Remote = r.Remote()
	}
	return in
}

// kicker is how e is kicked: its Kick, else its queue's; nil: it cannot be.
func (e *entry) kicker() func() {
	if e.more != nil && e.more.kick != nil {
		return e.more.kick
	}
	if k, ok := e.queue.(Kicker); ok {
		return k.Kick
	}
	return nil
}

// Counts returns the number of live connections per transport.
func (r *Registry) Counts() map[string]int {
	out := map[string]int{}
	if r == nil {
		return out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.conns {
		out[r.transportOf(e)]++
	}
	return out
}

// Kick disconnects the connection with the given id; it reports false if
// there is none (or it cannot be kicked).
func (r *Registry) Kick(id string) bool {
	if r == nil {
		return false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return false
	}
	r.mu.Lock()
	e := r.conns[n]
	r.mu.Unlock()
	if e == nil {
		return false
	}
	kick := e.kicker()
	if kick == nil {
		return false
	}
	kick()
	return true
}
