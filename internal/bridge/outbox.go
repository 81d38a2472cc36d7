package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// outbox holds a bridge's outgoing messages: a hub subscription to the
// local filters, which keeps filling while the remote broker is away, and
// the messages taken from it but not yet acknowledged, sent again first
// on the next connection.
//
// Without Durable the subscription's bounded queue is the only store: a
// full queue drops its oldest message (counted). With Durable the queue
// ends the subscription when full instead, and the next one replays the
// store from the last message taken; the cursor of the last message the
// remote acknowledged is kept in CursorFile, so a restarted server
// resumes from it.
//
// Only the pump (forward, on the bridge's goroutine) touches sub, pending
// and taken; stats reads counters.
type outbox struct {
	b       *Bridge
	filters []string
	sub     *hub.Subscription
	// taken is the cursor of the last message taken from sub (Durable:
	// where a new subscription resumes).
	taken   message.Cursor
	pending []*message.Message
	buf     []hub.Delivery

	cursor *cursorFile // nil without Durable
	// acked is the last message the remote acknowledged, in order.
	acked     message.Cursor
	ackedText atomic.Pointer[string]
	sent      atomic.Uint64
	held      atomic.Int64 // pending and in flight
	// dropped counts what ended subscriptions dropped; the live one's
	// drops are added when read.
	dropped     atomic.Uint64
	subMu       sync.Mutex // guards sub against stats
	loggedDrops uint64
	lastDropLog time.Time
}

func newOutbox(b *Bridge) (*outbox, error) {
	o := &outbox{b: b}
	for _, r := range b.cfg.Out {
		o.filters = append(o.filters, r.Local)
	}
	if b.cfg.Durable {
		o.cursor = &cursorFile{path: b.cfg.CursorFile}
		c, err := o.cursor.load()
		if err != nil {
			return nil, err
		}
		o.acked, o.taken = c, c
		o.setAcked(c)
	}
	if err := o.subscribe(); err != nil {
		return nil, err
	}
	return o, nil
}

// subscribe opens the hub subscription: live, or (Durable, with a
// position) replaying what the store holds after o.taken.
func (o *outbox) subscribe() error {
	limits := o.b.cfg.Queue
	limits.Overflow = hub.DropOldest
	if o.cursor != nil {
		limits.Overflow = hub.Disconnect
	}
	sub := o.b.hub.NewSubscription(Transport, limits)
	from := hub.StartFrom{}
	if o.cursor != nil && o.taken != (message.Cursor{}) {
		after := o.taken
		from.After = &after
	}
	start, err := sub.Subscribe(o.filters, from)
	if err != nil {
		sub.Close()
		return fmt.Errorf("subscribe to %v: %w", o.filters, err)
	}
	if start.Gap {
		o.b.log.Warn("bridge: some outgoing messages after the last one acknowledged are no longer stored", "cursor", o.taken.String())
	}
	if from.After == nil {
		o.taken = start.Head
	}
	o.subMu.Lock()
	o.sub = sub
	o.subMu.Unlock()
	return nil
}

// inflight is a message sent (or skipped) and its acknowledgement.
type inflight struct {
	m    *message.Message
	ack  ack
	sent bool // published, not skipped
}

var errLost = errors.New("connection lost")

// forward sends the outgoing messages over r until it is lost or ctx
// ends, keeping at most Inflight unacknowledged.
func (b *Bridge) forward(ctx context.Context, r remote) error {
	if b.out == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-r.lost():
			return errLost
		}
	}
	return b.out.forward(ctx, r)
}

func (o *outbox) forward(ctx context.Context, r remote) error {
	limit := o.b.cfg.Inflight
	if n := r.receiveMaximum(); n > 0 {
		limit = min(limit, n) // more would wait in the client, unseen
	}
	window := make([]inflight, 0, limit)
	defer func() { o.keep(window) }()
	for {
		if err := o.sub.Err(); err != nil {
			if err := o.reopen(err); err != nil {
				return err
			}
		}
		for len(window) < limit {
			m := o.next(limit - len(window))
			if m == nil {
				break
			}
			window = append(window, o.send(ctx, r, m))
		}
		o.held.Store(int64(len(window) + len(o.pending)))
		var front <-chan struct{}
		var flush <-chan time.Time
		if len(window) > 0 {
			front = window[0].ack.Done()
		} else if !o.flushCursor(false) {
			flush = time.After(cursorEvery) // idle: write the last position soon
		}
		var ready <-chan struct{}
		if len(window) < limit {
			ready = o.sub.Ready()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.lost():
			return errLost
		case <-o.sub.Done():
		case <-ready:
		case <-flush:
		case <-front:
			var err error
			if window, err = o.retire(window); err != nil {
				return err
			}
		}
		o.noteDrops()
	}
}

// next returns the next message to send: one not acknowledged on an
// earlier connection, else one from the subscription (taking up to n).
func (o *outbox) next(n int) *message.Message {
	if len(o.pending) == 0 {
		o.buf = o.sub.DrainUpTo(o.buf[:0], n)
		for _, d := range o.buf {
			o.pending = append(o.pending, d.Msg)
			o.taken = d.Msg.Cursor()
		}
		clear(o.buf)
	}
	if len(o.pending) == 0 {
		return nil
	}
	m := o.pending[0]
	o.pending[0] = nil
	o.pending = o.pending[1:]
	return m
}

// send publishes m under its remote name, or skips it: a message that
// came in over this bridge, an expired one, or one no route maps.
func (o *outbox) send(ctx context.Context, r remote, m *message.Message) inflight {
	if m.Origin == o.b.origin || m.Expired(time.Now()) {
		return inflight{m: m, ack: doneAck{}}
	}
	for _, rt := range o.b.cfg.Out {
		if name, ok := rt.ToRemote(m.Topic); ok {
			return inflight{m: m, ack: r.publish(ctx, name, m, rt.QoS), sent: true}
		}
	}
	return inflight{m: m, ack: doneAck{}}
}

// retire forgets the acknowledged messages at the front of the window.
// A publish the broker refused (an MQTT 5 reason code) is dropped,
// counted and logged, since sending it again would be refused again; any
// other error (the connection failed) ends the connection, and the
// message is sent again on the next.
func (o *outbox) retire(window []inflight) ([]inflight, error) {
	n := 0
	var err error
	for ; n < len(window); n++ {
		f := window[n]
		if !isDone(f.ack) {
			break
		}
		var refused *refusedPublish
		switch e := f.ack.Error(); {
		case e == nil:
			if f.sent {
				o.sent.Add(1)
			}
		case !f.sent:
		case errors.As(e, &refused):
			o.dropped.Add(1)
			o.b.remoteLog.Log(slog.LevelWarn, "bridge: the remote broker refused a message; dropped", "topic", f.m.Topic, "err", e)
		default:
			err = fmt.Errorf("publish: %w", e)
		}
		if err != nil {
			break
		}
		o.acked = f.m.Cursor()
	}
	k := copy(window, window[n:])
	clear(window[k:])
	return window[:k], err
}

// isDone reports whether a's outcome is known.
func isDone(a ack) bool {
	select {
	case <-a.Done():
		return true
	default:
		return false
	}
}

// keep puts the unacknowledged messages of the window back in front of
// pending, in order, for the next connection.
func (o *outbox) keep(window []inflight) {
	window, _ = o.retire(window)
	if len(window) > 0 {
		kept := make([]*message.Message, 0, len(window)+len(o.pending))
		for _, f := range window {
			kept = append(kept, f.m)
		}
		o.pending = append(kept, o.pending...)
	}
	o.held.Store(int64(len(o.pending)))
	o.flushCursor(true)
}

// reopen replaces a subscription that ended: with Durable, one whose
// queue overflowed resumes from the store after the last message taken.
func (o *outbox) reopen(err error) error {
	if o.cursor == nil || !errors.Is(err, hub.ErrSlowConsumer) {
		return fmt.Errorf("outgoing subscription ended: %w", err)
	}
	o.b.log.Info("bridge: outgoing queue full; the rest waits in the store", "after", o.taken.String())
	o.dropped.Add(o.sub.Dropped())
	return o.subscribe()
}

// flushCursor writes the acknowledged cursor (Durable), at most every
// cursorEvery unless now; it reports whether the cursor is up to date.
func (o *outbox) flushCursor(now bool) bool {
	text := o.acked.String()
	if p := o.ackedText.Load(); p != nil && *p == text {
		return true
	}
	if o.cursor == nil {
		o.setAcked(o.acked)
		return true
	}
	if !now && time.Since(o.cursor.written) < cursorEvery {
		return false
	}
	if err := o.cursor.store(o.acked); err != nil {
		o.b.log.Error("bridge: cannot keep the outgoing cursor; after a restart messages will be sent again", "err", err)
	}
	o.setAcked(o.acked)
	return true
}

func (o *outbox) setAcked(c message.Cursor) {
	s := c.String()
	o.ackedText.Store(&s)
}

// noteDrops logs the queue's drops, at most every dropLogEvery.
func (o *outbox) noteDrops() {
	n := o.stats().dropped
	if n == o.loggedDrops || time.Since(o.lastDropLog) < dropLogEvery {
		return
	}
	o.b.log.Warn("bridge: outgoing queue full: oldest messages dropped", "dropped", n-o.loggedDrops, "total", n,
		"queue", o.b.cfg.Queue.Messages)
	o.loggedDrops, o.lastDropLog = n, time.Now()
}

const (
	cursorEvery  = 100 * time.Millisecond
	dropLogEvery = 10 * time.Second
)

type outStats struct {
	sent, dropped uint64
	queued        int
	cursor        string
}

func (o *outbox) stats() outStats {
	o.subMu.Lock()
	sub := o.sub
	o.subMu.Unlock()
	st := outStats{sent: o.sent.Load(), dropped: o.dropped.Load() + sub.Dropped(), queued: int(o.held.Load()) + sub.Queued()}
	if p := o.ackedText.Load(); p != nil {
		st.cursor = *p
	}
	return st
}

func (o *outbox) close() {
	o.flushCursor(true)
	o.sub.Close()
}
