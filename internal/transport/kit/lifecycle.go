package kit

import (
	"sync"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/registry"
)

// Opening says how a subscriber connection is opened: its transport, its
// hub queue, where it is counted and listed, who it is.
type Opening struct {
	Hub       Subscriptions
	Transport string // the hub's, the registry's and the metrics' name
	Queue     hub.QueueLimits
	// Meter counts the connection in streamhub_connections; nil where
	// the listener's admission (acceptloop.Admission) counts it.
	Meter    Meter
	Registry *registry.Registry // nil: not listed
	Identity *auth.Identity     // nil: anonymous
	Remote   string
	// Kick, when set, is the registry's kick; by default it kicks the
	// subscription (hub.ErrKicked), which the writer ends with the
	// protocol's reason (EndKicked).
	Kick func()
}

// Subscriber is one subscriber connection's lifecycle: its hub
// subscription, its count and its registry entry from Open, then
// whatever the transport adds (a connection slot, its socket), all
// released by one Close, once, however the connection ends. Every
// subscribing transport opens its connections here, so none leaves a
// subscription, a listing or a count behind.
type Subscriber struct {
	*hub.Subscription

	// What Open takes is kept in fields rather than as closures in undo:
	// an idle subscriber holds this struct for as long as it lives.
	disconnected func() // the Meter's (one func per transport, not a closure per connection); nil: not counted
	listing      registry.Listing

	mu     sync.Mutex
	closed bool
	// undo is what the transport added, run by Close, last added first
	// (one func: most add one, or none).
	undo func()
}

// Open opens a subscriber connection: a hub subscription, counted and
// listed until Close.
func Open(o Opening) *Subscriber {
	s := new(Subscriber)
	s.Open(o)
	return s
}

// Open is the package's Open into s, a zero Subscriber held in the
// transport's own state (one allocation less for each connection).
func (s *Subscriber) Open(o Opening) {
	s.Subscription = o.Hub.NewSubscription(o.Transport, o.Queue)
	if o.Meter != nil {
		s.disconnected = o.Meter.Connected()
	}
	// Without a Kick of its own the registry kicks through the
	// subscriber (registry.Kicker), which ends the subscription.
	c := registry.Conn{Transport: o.Transport, Remote: o.Remote, Queue: s, Kick: o.Kick}
	if o.Identity != nil {
		c.Identity, c.ClientID = o.Identity.User, o.Identity.ClientID
	}
	s.listing = o.Registry.Register(c)
}

// Unwrap is the hub subscription, by which the registry finds the
// connection (registry.Wrapper).
func (s *Subscriber) Unwrap() any { return s.Subscription }

// Subscribe authorizes req and subscribes to it (the package's
// Subscribe), returning where it started, for the transport to report
// (its head, a gap, the replay's cursor). The connection's own goroutine
// calls it, before its writer starts.
func (s *Subscriber) Subscribe(p *auth.Policy, req SubscribeRequest) (hub.Start, error) {
	return Subscribe(p, s.Subscription, req)
}

// OnClose adds f to what Close releases; after Close it runs at once.
func (s *Subscriber) OnClose(f func()) {
	s.mu.Lock()
	if !s.closed {
		if prev := s.undo; prev != nil {
			next := f
			f = func() { next(); prev() }
		}
		s.undo = f
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	f()
}

// Close releases everything the connection holds, in the reverse order
// it was taken; later calls do nothing.
func (s *Subscriber) Close() {
	s.mu.Lock()
	undo, closed := s.undo, s.closed
	s.undo, s.closed = nil, true
	s.mu.Unlock()
	if closed {
		return
	}
	if undo != nil {
		undo()
	}
	s.listing.Remove()
	if s.disconnected != nil {
		s.disconnected()
	}
	s.Subscription.Close()
}
