package mqtt

import (
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/message"
)

// pendingAck is the PUBACK or PUBREC of one QoS 1 or 2 publish, waiting
// for its turn.
type pendingAck struct {
	typ    byte // packets.Puback or packets.Pubrec
	id     uint16
	reason byte
	ready  bool // the hub has answered (or the publish was refused at once)
	drop   bool // the connection ends instead: no acknowledgement
}

// ackQueue lets a connection keep reading while its publishes into durable
// topics are stored, so that the store commits many of them with one
// fsync, and still acknowledges each only once stored and in publish order
// [MQTT-4.6.0-2]. The hub answers in publish order, so the oldest entry not
// ready is always the front one; ready entries at the front move, encoded,
// into out, which the writer sends.
//
// Its own mutex, never held during I/O: the hub's committer completes
// entries and must not wait for a connection whose writer is stuck on a
// slow socket (writeMu is held across writes). Lock order: conn.writeMu,
// then ackQueue.mu.
type ackQueue struct {
	mu      sync.Mutex
	pending []pendingAck
	out     []byte
	// room, while the reader waits because ReceiveMaximum publishes await
	// the store, is closed once one of them is answered.
	room chan struct{}
	// onStored (conn.stored, made once, reader-owned) is the hub's
	// callback for publishes it stores.
	onStored func(message.Cursor, error)
}

// ackQ returns the connection's queue of acknowledgements, making it
// on first use. Reader only.
func (c *conn) ackQ() *ackQueue {
	p := c.publisher()
	q := p.acks.Load()
	if q == nil {
		q = &ackQueue{}
		q.onStored = c.stored
		p.acks.Store(q)
	}
	return q
}

// expectAck queues the acknowledgement of a publish about to be handed to
// the hub, whose answer (stored) completes it; false if the connection
// ended while waiting for room. Reader only.
func (c *conn) expectAck(qos byte, id uint16) bool {
	return c.pushAck(pendingAck{typ: ackType(qos), id: id})
}

// ackPublish queues the PUBACK (QoS 1) or PUBREC (QoS 2) of a publish that
// is answered without the store, behind those still waiting for it;
// reason reaches MQTT 5 clients only. Reader only.
func (c *conn) ackPublish(qos byte, id uint16, reason byte) {
	if qos > 0 {
		c.pushAck(pendingAck{typ: ackType(qos), id: id, reason: reason, ready: true})
	}
}

// pushAck queues p behind the acknowledgements still waiting, first
// waiting for room while ReceiveMaximum of them wait for the store.
func (c *conn) pushAck(p pendingAck) bool {
	q := c.ackQ()
	q.mu.Lock()
	for len(q.pending) >= max(int(c.srv.cfg.ReceiveMaximum), 1) {
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-c.done.Done():
			return false
		}
		q.mu.Lock()
	}
	q.pending = append(q.pending, p)
	sent := q.sendReadyLocked(c.version)
	q.mu.Unlock()
	if sent {
		c.poke()
	}
	return true
}

// stored is the hub's answer to the oldest publish handed to it (the
// connection keeps it as onStored, made once). A refusal the client
// cannot be told in an acknowledgement ends the connection; from the
// committer that is a failed commit, rare enough that the DISCONNECT's
// write (under writeMu, at most WriteTimeout) may hold it up.
func (c *conn) stored(_ message.Cursor, err error) {
	reason, ok := c.publishOutcome(1, err)
	q := c.loadAcks() // made before the publish this answers
	q.mu.Lock()
	front := &q.pending[0]
	front.ready, front.reason, front.drop = true, reason, !ok
	sent := q.sendReadyLocked(c.version)
	q.mu.Unlock()
	if sent {
		c.poke()
	}
}

// sendReadyLocked moves the ready acknowledgements at the front into out
// and makes room for more; the caller holds q.mu.
func (q *ackQueue) sendReadyLocked(version byte) (sent bool) {
	n := 0
	for n < len(q.pending) && q.pending[n].ready {
		if p := q.pending[n]; !p.drop {
			q.out = appendAck(q.out, p.typ, p.id, p.reason, version)
			sent = true
		}
		n++
	}
	if n > 0 {
		q.pending = q.pending[:copy(q.pending, q.pending[n:])]
		if q.room != nil {
			close(q.room)
			q.room = nil
		}
	}
	return sent
}

// takeAcksLocked appends the acknowledgements ready to go to the output;
// the caller holds writeMu.
func (c *conn) takeAcksLocked() {
	q := c.loadAcks()
	if q == nil {
		return // nothing published at QoS 1 or 2 yet
	}
	q.mu.Lock()
	if len(q.out) > 0 {
		c.appendLocked(q.out)
		q.out = q.out[:0]
	}
	q.mu.Unlock()
}

func ackType(qos byte) byte {
	if qos == 2 {
		return packets.Pubrec
	}
	return packets.Puback
}
