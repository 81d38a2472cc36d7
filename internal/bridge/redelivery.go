package bridge

import (
	"hash/maphash"
	"sync"
)

// redeliveries recognises a QoS 1 or 2 message the remote broker sends
// again because the bridge's acknowledgement did not reach it before the
// connection ended: MQTT has the broker resend it in the same session
// with its original packet identifier and the DUP flag. The bridge
// remembers, per packet identifier, the last message it published into
// the hub; a DUP message with that identifier, topic and payload is the
// same message, acknowledged again but not published twice.
//
// A new message takes over its identifier's entry (it arrives with DUP
// clear first), so one could only be mistaken for a redelivery if its
// first sending was lost with the connection and it repeats, on the same
// topic and with the same identifier, the payload of the message before
// it: the broker hands out identifiers in turn, so 65535 messages apart.
type redeliveries struct {
	seed maphash.Seed
	mu   sync.Mutex
	last map[uint16]uint64 // packet identifier → hash of topic and payload
}

func newRedeliveries() *redeliveries {
	return &redeliveries{seed: maphash.MakeSeed(), last: map[uint16]uint64{}}
}

func (r *redeliveries) hash(rc received) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(rc.topic)
	h.WriteByte(0)
	h.Write(rc.payload)
	return h.Sum64()
}

// seen reports whether rc was published already.
func (r *redeliveries) seen(rc received) bool {
	if rc.qos == 0 || !rc.dup {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.last[rc.packetID]
	return ok && h == r.hash(rc)
}

// published records rc as published into the hub.
func (r *redeliveries) published(rc received) {
	if rc.qos == 0 {
		return
	}
	h := r.hash(rc)
	r.mu.Lock()
	r.last[rc.packetID] = h
	r.mu.Unlock()
}

// forget drops every entry: a clean start begins a new session, whose
// identifiers say nothing of the old one's.
func (r *redeliveries) forget() {
	r.mu.Lock()
	clear(r.last)
	r.mu.Unlock()
}
