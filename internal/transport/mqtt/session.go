package mqtt

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// subOpts are one filter's MQTT subscription options.
type subOpts struct {
	qos            byte
	noLocal        bool
	rap            bool // retain as published
	retainHandling byte
	id             int // subscription identifier, 0 for none
}

// Outbound QoS states.
const (
	awaitPuback  = iota // QoS 1 sent
	awaitPubrec         // QoS 2 sent
	awaitPubcomp        // PUBREL sent
)

type outbound struct {
	id     uint16
	msg    *message.Message
	qos    byte
	retain bool
	subIDs []int
	state  int
	group  *sharedGroup // set for shared-subscription deliveries
}

// pending is a message waiting to be sent: from the session's hub queue, or
// pushed by a shared group with its QoS already decided.
type pending struct {
	msg      *message.Message
	retained bool
	group    *sharedGroup
	qos      byte
	subID    int
}

// route is one plain filter with its options.
type route struct {
	filter string
	opts   subOpts
}

// filterOpts returns a plain filter's options and whether the session has
// it; the caller holds ss.mu. A search of routes, as setFilter's: no map
// beside it (most sessions have a filter or a few, and a map's first
// slots alone cost 288 bytes a session).
func (ss *session) filterOpts(f string) (subOpts, bool) {
	for i := range ss.routes {
		if ss.routes[i].filter == f {
			return ss.routes[i].opts, true
		}
	}
	return subOpts{}, false
}

// setFilter adds or updates a plain filter; the caller holds ss.mu.
func (ss *session) setFilter(f string, o subOpts) {
	for i := range ss.routes {
		if ss.routes[i].filter == f {
			ss.routes[i].opts = o
			return
		}
	}
	ss.routes = append(ss.routes, route{filter: f, opts: o})
}

// setShared adds or updates a shared subscription; the caller holds ss.mu.
func (ss *session) setShared(f string, o subOpts) {
	if ss.shared == nil {
		ss.shared = map[string]subOpts{}
	}
	ss.shared[f] = o
}

// deleteFilter removes a plain filter; the caller holds ss.mu.
func (ss *session) deleteFilter(f string) {
	for i := range ss.routes {
		if ss.routes[i].filter == f {
			last := len(ss.routes) - 1
			ss.routes[i] = ss.routes[last]
			ss.routes[last] = route{}
			ss.routes = ss.routes[:last]
			return
		}
	}
}

// session is MQTT state that outlives connections: subscriptions, the
// queue, QoS 1/2 messages in flight either way, and the will. There is
// one per connected client: its maps are made on first use (nil reads as
// empty), and its small fields share words.
type session struct {
	srv *Server
	id  string // sessionKey(owner, clientID): the session's name in the server and the store
	sub *hub.Subscription
	// owner is the identity that created the session (see ownership.go);
	// the client identifier it was created with is in id (clientID).
	owner string

	mu        sync.Mutex
	routes    []route            // the plain filters, as a list to match messages against
	shared    map[string]subOpts // "$share/GROUP/FILTER"
	inflight  *inflights         // nil until the first QoS 1 or 2 delivery
	pending   []pending
	inboundQ2 map[uint16]struct{}
	nextID    uint16
	ended     bool
	// restricted: every message is checked against the owner's read
	// rights (a wildcard reaching beyond them), after a restart too.
	restricted bool
	// lost: another node holds the session, this copy saves nothing
	// (guarded by saveMu).
	lost bool
	// forgotten: the session ended while held here and its record was
	// deleted; a delayed will due meanwhile is still this node's.
	forgotten bool
	conn      *conn
	active    atomic.Pointer[conn] // conn, for the hub's notifications
	expiry    time.Duration
	will      *connectWill // of the connection attached, nil: none
	away      *detached    // nil while attached (but for a session restored)
	// bound counts attachments and detachments: a timer started by a
	// detachment acts only if the session is still in that detachment
	// (not resumed, taken over or detached again since).
	bound uint64
	// delivered is the highest sequence taken from the hub queue, in the
	// hub's epoch (epoch); saved is the cursor last persisted.
	delivered uint64
	saved     string
	// saveMu orders the saves of the session's record, and guards rev,
	// the record's revision in the session store as this copy last wrote
	// or read it (persist.go). Taken before mu.
	saveMu sync.Mutex
	rev    uint64
}

func (s *Server) newSession(id string) *session {
	ss := &session{srv: s, id: id}
	if h, ok := s.hub.(hookedHub); ok {
		ss.sub = h.NewSubscriptionWith("mqtt", s.cfg.Queue, (*sessionHooks)(ss))
		return ss
	}
	ss.sub = s.hub.NewSubscription("mqtt", s.cfg.Queue)
	ss.sub.Notify(ss.wake)
	ss.sub.OnOverflow(ss.overflowed)
	return ss
}

// hookedHub is a Hub whose subscriptions take their hooks as one
// interface (hub.Hub): the session then holds no closure for them.
type hookedHub interface {
	NewSubscriptionWith(transport string, limits hub.QueueLimits, hooks hub.Hooks) *hub.Subscription
}

// sessionHooks are a session's hooks on its hub subscription (hub.Hooks).
type sessionHooks session

func (h *sessionHooks) Notify() { (*session)(h).wake() }
func (h *sessionHooks) Overflowed(dropped *message.Message) bool {
	return (*session)(h).overflowed(dropped)
}

// clientID is the client identifier the session was created with: id is
// sessionKey(owner, clientID), which ends with it. Derived, not kept,
// like epoch: there is a session per connected client.
func (ss *session) clientID() string {
	if ss.owner == "" {
		return ss.id
	}
	return ss.id[len(ss.owner)+2:]
}

// epoch is the hub's, which the session's sequences count in: one hub,
// one epoch for the server's lifetime.
func (ss *session) epoch() string { return ss.srv.hub.Epoch() }

// wake starts the connected client's writer, if any, for queued messages.
func (ss *session) wake() {
	if c := ss.active.Load(); c != nil {
		c.poke()
	}
}

// attachLocked binds c and the terms of its CONNECT: a session expiry
// or delayed will still pending from a previous connection is cancelled
// [MQTT-3.1.3-9]. The caller holds ss.mu.
func (ss *session) attachLocked(c *conn, t connectTerms) {
	ss.conn = c
	ss.active.Store(c)
	ss.bound++
	c.sess = ss // before any other connection can see c in ss.conn and kick it
	// Reconnected while detached: no expiry, and no will after a delay.
	if ss.away != nil {
		ss.away.stop()
		ss.away = nil
	}
	ss.expiry, ss.will = t.expiry, nil
	if t.will != nil {
		ss.will = &connectWill{msg: t.will, delay: t.willDelay}
	}
}

// detached is what a session holds only while no connection is attached:
// behind a pointer, since most sessions are attached.
type detached struct {
	timer     timerHandle      // session expiry
	willTimer timerHandle      // a will's delay
	delayed   *message.Message // the will waiting for willTimer
}

// stop stops both timers.
func (a *detached) stop() {
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.willTimer != nil {
		a.willTimer.Stop()
	}
}

// detachedLocked is the session's detached state, made if it has none;
// the caller holds ss.mu.
func (ss *session) detachedLocked() *detached {
	if ss.away == nil {
		ss.away = &detached{}
	}
	return ss.away
}

// connectWill is a connection's will and its delay: behind a pointer,
// since most connections have none.
type connectWill struct {
	msg   *message.Message
	delay time.Duration
}

// inflights are a session's outbound QoS 1 and 2 messages awaiting their
// acknowledgements, made with the first (a subscriber at QoS 0 does
// without). A nil *inflights reads as empty.
type inflights struct {
	byID  map[uint16]*outbound
	order []uint16 // ids in send order
}

func (f *inflights) len() int {
	if f == nil {
		return 0
	}
	return len(f.byID)
}

func (f *inflights) get(id uint16) *outbound {
	if f == nil {
		return nil
	}
	return f.byID[id]
}

// ids are the ids in send order.
func (f *inflights) ids() []uint16 {
	if f == nil {
		return nil
	}
	return f.order
}

// all is every message in flight, keyed by id.
func (f *inflights) all() map[uint16]*outbound {
	if f == nil {
		return nil
	}
	return f.byID
}

// add records o, sent last.
func (f *inflights) add(o *outbound) {
	f.byID[o.id] = o
	f.order = append(f.order, o.id)
}

// remove forgets id; compact brings order up to date after removals.
func (f *inflights) remove(id uint16) { delete(f.byID, id) }
func (f *inflights) compact()         { f.order = compactOrder(f.order, f.byID) }

// detach unbinds c. Shared-subscription messages not yet acknowledged go
// back to their group for another member. The session then expires after
// its expiry interval (at once for clean sessions).
func (ss *session) detach(c *conn, sendWill bool) {
	ss.mu.Lock()
	if ss.conn != c {
		ss.mu.Unlock()
		return
	}
	ss.conn = nil
	ss.active.Store(nil)
	var back []returned
	for _, id := range ss.inflight.ids() {
		if o := ss.inflight.get(id); o != nil && o.group != nil {
			if o.state != awaitPubcomp { // a PUBREC means the member has it
				back = append(back, returned{o.group, o.msg})
			}
			ss.inflight.remove(id)
		}
	}
	if ss.inflight != nil {
		ss.inflight.compact()
	}
	kept := ss.pending[:0]
	for _, p := range ss.pending {
		if p.group != nil {
			back = append(back, returned{p.group, p.msg})
		} else {
			kept = append(kept, p)
		}
	}
	clear(ss.pending[len(kept):])
	ss.pending = kept
	var will *message.Message
	var delay time.Duration
	if w := ss.will; w != nil && sendWill {
		will, delay = w.msg, w.delay
	}
	ss.will = nil
	expiry := ss.expiry
	ss.bound++
	bound := ss.bound
	if will != nil && delay > 0 && expiry > 0 {
		a := ss.detachedLocked()
		a.delayed = will
		a.willTimer = ss.srv.startTimer(min(delay, expiry), ss, "will delay", func() { ss.willDue(bound) })
		will = nil
	}
	if expiry > 0 {
		ss.detachedLocked().timer = ss.srv.startTimer(expiry, ss, "session expiry", func() { ss.srv.expire(ss, bound) })
	}
	ss.mu.Unlock()
	if expiry > 0 && !ss.srv.closing.Load() {
		ss.persist()
	}
	for _, r := range back {
		r.group.requeue(r.msg)
	}
	if will != nil {
		ss.srv.publishWill(will)
	}
	if expiry == 0 {
		ss.srv.expire(ss, bound)
	}
}

// willDue publishes the delayed will when its delay is over, unless the
// detachment that started the delay is over: the session was resumed,
// taken over or ended (which publishes the will itself) since.
func (ss *session) willDue(bound uint64) {
	ss.mu.Lock()
	if ss.bound != bound || ss.ended || ss.conn != nil || ss.away == nil {
		ss.mu.Unlock()
		return
	}
	will := ss.away.delayed
	ss.away.willTimer, ss.away.delayed = nil, nil
	ss.mu.Unlock()
	if will != nil && ss.srv.claimWill(ss) {
		ss.srv.publishWill(will)
	}
}

type returned struct {
	group *sharedGroup
	msg   *message.Message
}

func compactOrder(order []uint16, live map[uint16]*outbound) []uint16 {
	out := order[:0]
	for _, id := range order {
		if _, ok := live[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) publishWill(m *message.Message) {
	if _, err := s.hub.Publish(context.Background(), m); err != nil {
		s.log.Warn("will not published", "transport", "mqtt", "topic", m.Topic, "err", err)
	}
}

// expire ends a session if it is still in the detachment bound counted
// (not resumed or detached again since) and still registered.
func (s *Server) expire(ss *session, bound uint64) {
	if s.closing.Load() {
		return // shutting down: the stored session outlives the process
	}
	s.mu.Lock()
	ss.mu.Lock()
	if ss.bound != bound || ss.conn != nil || ss.ended {
		ss.mu.Unlock()
		s.mu.Unlock()
		return
	}
	s.removeSessionLocked(ss)
	ss.mu.Unlock()
	s.mu.Unlock()
	ss.end()
}

// end releases everything the session holds, sends the delayed will still
// waiting and deletes the stored record.
func (ss *session) end() { ss.finish(true) }

// finish releases everything the session holds; a session handed over to
// another node (own false) leaves its will and its record to that node.
func (ss *session) finish(own bool) {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	// A delayed will still waiting is sent when the session ends; whichever
	// of this and willDue takes it under ss.mu publishes it, once.
	var will *message.Message
	if a := ss.away; a != nil {
		a.stop()
		will = a.delayed
		a.willTimer, a.delayed = nil, nil
	}
	shared := make([]string, 0, len(ss.shared))
	for f := range ss.shared {
		shared = append(shared, f)
	}
	ss.mu.Unlock()
	if own && will != nil && ss.srv.claimWill(ss) {
		ss.srv.publishWill(will)
	}
	if own {
		ss.forget()
	}
	ss.sub.Close()
	for _, f := range shared {
		ss.srv.leaveGroup(f, ss)
	}
}

// restrict makes the session's hub subscription pass every message
// through check, and remembers it for the stored session.
func (ss *session) restrict(check func(topic string) bool) {
	ss.mu.Lock()
	ss.restricted = true
	ss.mu.Unlock()
	ss.sub.Restrict(check)
}

// subscribe adds one filter with its options; it reports whether the filter
// was new and returns the reason code to put in SUBACK.
func (ss *session) subscribe(f packets.Subscription) byte {
	opts := subOpts{qos: min(f.Qos, 2), noLocal: f.NoLocal, rap: f.RetainAsPublished,
		retainHandling: f.RetainHandling, id: f.Identifier}
	if group, filter, ok := parseShare(f.Filter); ok {
		if group == "" || ss.srv.hub.ValidateFilter(filter) != nil {
			return packets.ErrTopicFilterInvalid.Code
		}
		if ss.srv.feeds.check(f.Filter, filter) != nil {
			return packets.ErrTopicFilterInvalid.Code
		}
		ss.mu.Lock()
		_, existed := ss.shared[f.Filter]
		ss.setShared(f.Filter, opts)
		ss.mu.Unlock()
		if !existed {
			ss.srv.joinGroup(group, filter, f.Filter, ss, opts)
		} else {
			ss.srv.updateGroup(f.Filter, ss, opts)
		}
		return opts.qos
	}
	if ss.srv.hub.ValidateFilter(f.Filter) != nil {
		return packets.ErrTopicFilterInvalid.Code
	}
	ss.mu.Lock()
	_, existed := ss.filterOpts(f.Filter)
	ss.setFilter(f.Filter, opts)
	ss.mu.Unlock()
	retained := opts.retainHandling == 0 || (opts.retainHandling == 1 && !existed)
	// Owned: onSubscribe copied the filter out of the packet already.
	start, err := ss.sub.Subscribe([]string{f.Filter}, hub.StartFrom{Retained: retained, Owned: true})
	if err != nil {
		ss.mu.Lock()
		ss.deleteFilter(f.Filter)
		ss.mu.Unlock()
		if errors.Is(err, hub.ErrTooManySubscriptions) {
			return packets.ErrQuotaExceeded.Code
		}
		return packets.ErrUnspecifiedError.Code
	}
	ss.mu.Lock()
	if ss.delivered == 0 {
		ss.delivered = start.Head.Seq
	}
	ss.mu.Unlock()
	return opts.qos
}

// unsubscribe removes one filter; it reports whether it existed.
func (ss *session) unsubscribe(filter string) bool {
	ss.mu.Lock()
	if _, ok := ss.shared[filter]; ok {
		delete(ss.shared, filter)
		ss.mu.Unlock()
		ss.srv.leaveGroup(filter, ss)
		return true
	}
	_, ok := ss.filterOpts(filter)
	ss.deleteFilter(filter)
	ss.mu.Unlock()
	if ok {
		ss.sub.Unsubscribe([]string{filter})
	}
	return ok
}

// allocID returns a packet id not in flight; the caller holds ss.mu.
func (ss *session) allocID() (uint16, bool) {
	for range 65535 {
		ss.nextID++
		if ss.nextID == 0 {
			ss.nextID = 1
		}
		if used := ss.inflight.get(ss.nextID) != nil; !used {
			return ss.nextID, true
		}
	}
	return 0, false
}

func parseShare(filter string) (group, rest string, ok bool) {
	const prefix = "$share/"
	if len(filter) <= len(prefix) || filter[:len(prefix)] != prefix {
		return "", "", false
	}
	for i := len(prefix); i < len(filter); i++ {
		if filter[i] == '/' {
			return filter[len(prefix):i], filter[i+1:], true
		}
	}
	return "", "", true
}
