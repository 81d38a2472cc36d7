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
	// Start is where the subscription started (Subscribe), for the
	// transport to report: its head, a gap, the replay's cursor.
	Start hub.Start

	mu     sync.Mutex
	undo   []func() // run by Close, last added first
	closed bool
}

// Open opens a subscriber connection: a hub subscription, counted and
// listed until Close.
func Open(o Opening) *Subscriber {
	s := &Subscriber{Subscription: o.Hub.NewSubscription(o.Transport, o.Queue)}
	kick := o.Kick
	if kick == nil {
		kick = s.Kick
	}
	s.OnClose(s.Subscription.Close)
	if o.Meter != nil {
		s.OnClose(o.Meter.Connected())
	}
	c := registry.Conn{Transport: o.Transport, Remote: o.Remote, Queue: s.Subscription, Kick: kick}
	if o.Identity != nil {
		c.Identity, c.ClientID = o.Identity.User, o.Identity.ClientID
	}
	s.OnClose(o.Registry.Add(c))
	return s
}

// Subscribe authorizes req and subscribes to it (the package's
// Subscribe), keeping the resolved start in Start. The connection's own
// goroutine calls it, before its writer starts.
func (s *Subscriber) Subscribe(p *auth.Policy, req SubscribeRequest) (hub.Start, error) {
	start, err := Subscribe(p, s.Subscription, req)
	if err == nil {
		s.Start = start
	}
	return start, err
}

// OnClose adds f to what Close releases; after Close it runs at once.
func (s *Subscriber) OnClose(f func()) {
	s.mu.Lock()
	if !s.closed {
		s.undo = append(s.undo, f)
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
	undo := s.undo
	s.undo, s.closed = nil, true
	s.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
}
