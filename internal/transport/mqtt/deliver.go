package mqtt

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// writeLoop sends what is queued for the connection and ends when nothing
// is left: packets queued by the reader, then the session's messages
// within the client's receive maximum, coalesced into as few writes as the
// socket allows. poke starts it; a poke during a run, or a batch that left
// messages queued, makes it go again.
func (c *conn) writeLoop() {
	c.writeRuns(false)
}

// writeRuns is the writer's work; the caller has made wstate busy. The
// writer goroutine runs it, and so does the reader that held the writer
// role (inline), which must never wait for the socket: a client that
// writes a long burst before it reads would wait for us while we wait for
// it. So the reader writes what the socket takes at once and leaves the
// rest to a writer goroutine.
func (c *conn) writeRuns(inline bool) {
	defer c.recoverWriter()
	dp := deliveries.Get().(*[]hub.Delivery)
	defer deliveries.Put(dp)
	for {
		c.wstate.Store(writerBusy)
		if !c.writerMayRun() {
			return // stays busy: a closed connection starts no writer again
		}
		*dp = c.fill(*dp)
		whole, err := c.flush(inline)
		if err != nil {
			c.close()
			return
		}
		if !whole {
			go c.writeLoop() // still busy: the goroutine takes over
			return
		}
		if c.wstate.CompareAndSwap(writerBusy, writerIdle) {
			return
		}
	}
}

// flush writes the output with the acknowledgements the store has
// released: inline, only what the socket takes at once (whole tells
// whether that was all).
func (c *conn) flush(inline bool) (whole bool, err error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.takeAcksLocked()
	if inline {
		return c.tryFlushLocked()
	}
	return true, c.flushLocked()
}

// recoverWriter, deferred by the writer, ends only this connection on a
// panic in the writer's code (encoding a PUBLISH), as kit.Writer does for
// the other transports: the locks it held are released by their defers,
// the writer stays busy so that nothing starts it again, and the client
// is told 0x80 (unspecified error). Logged rate-limited: a client that
// can trigger it can trigger it at will.
func (c *conn) recoverWriter() {
	r := recover()
	if r == nil {
		return
	}
	c.srv.remote.Log(slog.LevelError, "writer panicked; its connection is closed", "transport", "mqtt",
		"remote", c.nc.RemoteAddr().String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	c.kick(packets.ErrUnspecifiedError)
}

// writerMayRun reports whether the connection and its session are still
// live, kicking the client if the session ended under it.
func (c *conn) writerMayRun() bool {
	ss := c.sess
	switch {
	case c.done.Closed():
		return false
	case ss.sub.Ended(): // not Done: a channel per connection, made only to be polled
		switch err := ss.sub.Err(); {
		case errors.Is(err, hub.ErrShutdown):
			c.kick(codeShuttingDown)
		case errors.Is(err, hub.ErrUnavailable):
			// A resume whose replay the cluster could not serve: the
			// client connects again and resumes.
			c.kick(errServerBusy)
		case errors.Is(err, hub.ErrReplay):
			c.kick(packets.ErrUnspecifiedError)
		default:
			c.kick(packets.ErrSessionTakenOver)
		}
		return false
	default:
		return true
	}
}

// deliveries lends writers their batch of messages taken from the hub.
var deliveries = sync.Pool{New: func() any { b := make([]hub.Delivery, 0, fillBatch); return &b }}

// fillBatch is how many messages a writer takes from the hub at a time;
// it writes at most fillBatches of them before flushing.
// fillBytes bounds the output a writer gathers before writing: without
// it, a batch of large messages to a client that reads slowly would hold
// their encoded copies beside the queue's.
const (
	fillBatch   = 256
	fillBatches = 4
	fillBytes   = 1 << 20
)

// resend repeats the unacknowledged flows of a resumed session.
func (c *conn) resend() {
	ss := c.sess
	now := time.Now()
	ss.mu.Lock()
	c.writeMu.Lock()
	for _, id := range ss.inflight.ids() {
		o := ss.inflight.get(id)
		if o == nil {
			continue
		}
		if o.state == awaitPubcomp {
			out := c.outLocked()
			*out = appendAck(*out, packets.Pubrel, id, 0, c.version)
			continue
		}
		out := outPublish{version: c.version, qos: o.qos, retain: o.retain, dup: true, id: id, subIDs: o.subIDs,
			expiry: expirySeconds(o.msg, now)}
		c.appendPublishLocked(o.msg, out)
	}
	c.writeMu.Unlock()
	ss.mu.Unlock()
}

// fill writes queued messages into the output, as many as flow control
// allows, up to fillBatches batches: first those the session holds, then
// the hub's. A batch that leaves messages in the hub's queue has it signal
// again, so the writer goes on after flushing.
func (c *conn) fill(buf []hub.Delivery) []hub.Delivery {
	buf, sent := c.fillLocking(buf)
	if sent > 0 {
		c.srv.sent.Add(int64(sent))
		c.srv.meter.Sent(sent)
	}
	return buf
}

// fillLocking is fill's work under the session's lock and writeMu,
// released by defers so that a panic in it (recoverWriter) leaves
// neither held.
func (c *conn) fillLocking(buf []hub.Delivery) (_ []hub.Delivery, sent int) {
	ss := c.sess
	now := time.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	blocked := false
	for len(ss.pending) > 0 && !blocked {
		switch c.put(ss.pending[0], now) {
		case putBlocked:
			blocked = true
			continue
		case putSent:
			sent++
		}
		ss.pop()
	}
	for n := 0; n < fillBatches && !blocked; n++ {
		room := fillBytes - len(*c.outLocked())
		if room <= 0 {
			break // the rest after this write: the hub queue signals again
		}
		buf = ss.sub.DrainBounded(buf, fillBatch, room)
		if len(buf) == 0 {
			break
		}
		for _, d := range buf {
			if !d.Retained && d.Msg.Epoch == ss.epoch() && d.Msg.Seq > ss.delivered {
				ss.delivered = d.Msg.Seq
			}
			p := pending{msg: d.Msg, retained: d.Retained}
			if !blocked {
				switch c.put(p, now) {
				case putSent:
					sent++
					continue
				case putDropped:
					continue
				}
				blocked = true
			}
			ss.pending = append(ss.pending, p) // waits for acknowledgements
		}
		clear(buf)
	}
	return buf, sent
}

type putResult int

const (
	putSent    putResult = iota
	putDropped           // expired, no longer subscribed, or over the client's maximum packet size
	putBlocked           // the client's receive maximum is reached
)

// put writes one message's PUBLISH to the output; the caller holds ss.mu
// and writeMu.
func (c *conn) put(p pending, now time.Time) putResult {
	ss := c.sess
	m := p.msg
	if m.Expired(now) {
		return putDropped
	}
	qos, retain, subIDs, ok := ss.route(p)
	if !ok {
		return putDropped
	}
	if qos == 0 && !retain && len(subIDs) == 0 && m.Shared() {
		if raw := c.sharedPublish(m); raw != nil {
			if c.clientMaxPacket > 0 && len(raw) > int(c.clientMaxPacket) {
				return putDropped // [MQTT-3.1.2-24]
			}
			c.appendLocked(raw)
			return putSent
		}
	}
	out := outPublish{version: c.version, qos: qos, retain: retain, subIDs: subIDs, expiry: expirySeconds(m, now)}
	if qos > 0 {
		if ss.inflight.len() >= int(c.inflightMax) {
			return putBlocked
		}
		id, ok := ss.allocID()
		if !ok {
			return putBlocked
		}
		out.id = id
	}
	newAlias := c.chooseAlias(m.Topic, &out)
	if c.clientMaxPacket > 0 && publishSize(m, out) > int(c.clientMaxPacket) {
		return putDropped // [MQTT-3.1.2-24]: never send a packet over the client's maximum
	}
	if newAlias {
		if c.outAlias == nil {
			c.outAlias = map[string]uint16{}
		}
		// Copied: the topic may be a view into the publisher's packet
		// (another transport's), which the alias would keep for the
		// connection's life.
		c.outAlias[strings.Clone(m.Topic)] = out.alias
	}
	if qos > 0 {
		if ss.inflight == nil {
			ss.inflight = &inflights{byID: map[uint16]*outbound{}}
		}
		ss.inflight.add(&outbound{id: out.id, msg: m, qos: qos, retain: retain, subIDs: subIDs,
			state: awaitPuback + int(qos) - 1, group: p.group})
	}
	c.appendPublishLocked(m, out)
	return putSent
}

// appendPublishLocked writes one PUBLISH to the output; the caller holds
// writeMu.
func (c *conn) appendPublishLocked(m *message.Message, out outPublish) {
	b := c.outLocked()
	*b = appendPublish(*b, m, out)
}

func (ss *session) pop() {
	ss.pending[0] = pending{}
	ss.pending = ss.pending[1:]
	if len(ss.pending) == 0 {
		ss.pending = nil
	}
}

// route decides a message's QoS, retain flag and subscription identifiers
// from the session's matching filters; ok is false if none applies any more.
func (ss *session) route(p pending) (qos byte, retain bool, subIDs []int, ok bool) {
	if p.group != nil {
		if p.subID > 0 {
			subIDs = []int{p.subID}
		}
		return min(p.msg.QoS, p.qos), false, subIDs, true
	}
	for i := range ss.routes {
		r := &ss.routes[i]
		if !topic.Match(r.filter, p.msg.Topic) {
			continue
		}
		o := r.opts
		if o.noLocal && p.msg.Origin == ss.id {
			continue
		}
		ok = true
		qos = max(qos, min(p.msg.QoS, o.qos))
		if o.id > 0 {
			subIDs = append(subIDs, o.id)
		}
		if o.rap && p.msg.Retain {
			retain = true
		}
	}
	return qos, retain || p.retained, subIDs, ok
}

// sharedPublish returns m's QoS 0 PUBLISH, encoded once for every
// subscriber that needs exactly those bytes (no retain flag, no
// subscription identifiers, no alias, no expiry to count down), or nil
// when this client needs bytes of its own.
func (c *conn) sharedPublish(m *message.Message) []byte {
	format := message.FormatMQTT4QoS0
	switch {
	case c.version == 5 && c.aliasMax == 0 && m.Expires.IsZero():
		format = message.FormatMQTT5QoS0
	case c.version != 4:
		return nil
	}
	version := c.version
	return m.Encoded(format, func(m *message.Message) []byte {
		out := outPublish{version: version}
		return appendPublish(make([]byte, 0, publishSize(m, out)), m, out)
	})
}

// chooseAlias sets out's topic alias when the client allows aliases: the
// alias alone for a topic sent before, or a new alias with the topic. It
// reports whether the alias is new, to be recorded once the packet is sent;
// the caller holds writeMu.
func (c *conn) chooseAlias(name string, out *outPublish) (isNew bool) {
	if c.version < 5 || c.aliasMax == 0 {
		return false
	}
	if a, ok := c.outAlias[name]; ok {
		out.alias, out.noTopic = a, true
		return false
	}
	if len(c.outAlias) < int(c.aliasMax) {
		out.alias = uint16(len(c.outAlias) + 1)
		return true
	}
	return false
}
