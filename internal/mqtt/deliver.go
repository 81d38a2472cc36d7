package mqtt

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/hub"
	"streamhub/internal/message"
	"streamhub/internal/topic"
)

// errSkipped marks a packet not sent because it exceeds the client's
// maximum packet size.
var errSkipped = errors.New("mqtt: packet over the client's maximum size")

// writeLoop sends what is queued for the connection and ends when nothing
// is left: packets queued by the reader, then the session's messages
// within the client's receive maximum, coalesced into as few writes as the
// socket allows. poke starts it; a poke during a run makes it go again.
func (c *conn) writeLoop() {
	ss := c.sess
	dp := deliveries.Get().(*[]hub.Delivery)
	defer deliveries.Put(dp)
	for {
		c.wstate.Store(writerBusy)
		select {
		case <-c.done:
			return // stays busy: a closed connection starts no writer again
		case <-ss.sub.Done():
			if errors.Is(ss.sub.Err(), hub.ErrShutdown) {
				c.kick(codeShuttingDown)
			} else {
				c.kick(packets.ErrSessionTakenOver)
			}
			return
		default:
		}
		var more bool
		*dp, more = c.fill(*dp)
		c.writeMu.Lock()
		err := c.flushLocked()
		c.writeMu.Unlock()
		if err != nil {
			c.close()
			return
		}
		if !more && c.wstate.CompareAndSwap(writerBusy, writerIdle) {
			return
		}
	}
}

// deliveries lends writers their batch of messages taken from the hub.
var deliveries = sync.Pool{New: func() any { b := make([]hub.Delivery, 0, fillBatch); return &b }}

const fillBatch = 256

// outPacket is a packet to write: built for this connection, or raw bytes
// shared by every subscriber (a QoS 0 PUBLISH is the same for all of them).
type outPacket struct {
	pk  packets.Packet
	raw []byte
}

// resend repeats the unacknowledged flows of a resumed session.
func (c *conn) resend() {
	ss := c.sess
	var pks []outPacket
	ss.mu.Lock()
	for _, id := range ss.order {
		o := ss.inflight[id]
		if o == nil {
			continue
		}
		if o.state == awaitPubcomp {
			pks = append(pks, outPacket{pk: packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id}})
			continue
		}
		pk := publishPacket(c.version, o.msg, o.qos, o.retain, o.subIDs, id, time.Now())
		pk.FixedHeader.Dup = true
		pks = append(pks, outPacket{pk: pk})
	}
	ss.mu.Unlock()
	c.writeAll(pks)
}

// fill moves queued messages into packets, as many as flow control allows
// in one batch; more reports messages left for another.
func (c *conn) fill(buf []hub.Delivery) (_ []hub.Delivery, more bool) {
	ss := c.sess
	now := time.Now()
	var pks []outPacket
	ss.mu.Lock()
	for i := 0; ; i++ {
		if i == 4*fillBatch {
			more = len(ss.pending) > 0
			break
		}
		if len(ss.pending) == 0 {
			buf = ss.sub.DrainUpTo(buf, fillBatch)
			if len(buf) == 0 {
				break
			}
			for _, d := range buf {
				ss.pending = append(ss.pending, pending{msg: d.Msg, retained: d.Retained})
				if !d.Retained && d.Msg.Epoch == ss.epoch && d.Msg.Seq > ss.delivered {
					ss.delivered = d.Msg.Seq
				}
			}
			clear(buf)
		}
		p := ss.pending[0]
		if p.msg.Expired(now) {
			ss.pop()
			continue
		}
		qos, retain, subIDs, ok := ss.route(p)
		if !ok {
			ss.pop()
			continue
		}
		var id uint16
		if qos > 0 {
			if len(ss.inflight) >= c.inflightMax {
				break
			}
			if id, ok = ss.allocID(); !ok {
				break
			}
			ss.inflight[id] = &outbound{id: id, msg: p.msg, qos: qos, retain: retain, subIDs: subIDs,
				state: awaitPuback + int(qos) - 1, group: p.group}
			ss.order = append(ss.order, id)
		}
		if raw := c.sharedPublish(p.msg, qos, retain, subIDs); raw != nil {
			pks = append(pks, outPacket{raw: raw})
		} else {
			pks = append(pks, outPacket{pk: publishPacket(c.version, p.msg, qos, retain, subIDs, id, now)})
		}
		ss.pop()
	}
	ss.mu.Unlock()
	if skipped := c.writeAll(pks); len(skipped) > 0 {
		ss.mu.Lock()
		for _, id := range skipped {
			delete(ss.inflight, id)
		}
		ss.order = compactOrder(ss.order, ss.inflight)
		ss.mu.Unlock()
	}
	return buf, more
}

// writeAll encodes packets into the write buffer; it returns the packet
// ids of QoS 1/2 publishes skipped for their size.
func (c *conn) writeAll(pks []outPacket) (skipped []uint16) {
	if len(pks) == 0 {
		return nil
	}
	sent := 0
	c.writeMu.Lock()
	for i := range pks {
		if raw := pks[i].raw; raw != nil {
			if c.clientMaxPacket > 0 && len(raw) > c.clientMaxPacket {
				continue
			}
			c.appendLocked(raw)
			sent++
			continue
		}
		pk := &pks[i].pk
		if pk.FixedHeader.Type == packets.Publish {
			c.applyAlias(pk)
		}
		err := c.encodeLocked(pk)
		if errors.Is(err, errSkipped) {
			if pk.PacketID != 0 {
				skipped = append(skipped, pk.PacketID)
			}
			continue
		}
		if err != nil {
			break
		}
		if pk.FixedHeader.Type == packets.Publish {
			sent++
		}
	}
	c.writeMu.Unlock()
	c.srv.sent.Add(int64(sent))
	c.srv.meter.Sent(sent)
	return skipped
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
	for f, o := range ss.filters {
		if !topic.Match(f, p.msg.Topic) {
			continue
		}
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

// sharedPublish returns m's QoS 0 PUBLISH encoded once for every
// subscriber that needs exactly those bytes (no retain flag, no
// subscription identifiers, no alias, no expiry to count down), or nil.
func (c *conn) sharedPublish(m *message.Message, qos byte, retain bool, subIDs []int) []byte {
	if qos != 0 || retain || len(subIDs) > 0 {
		return nil
	}
	format := message.FormatMQTT4QoS0
	if c.version == 5 {
		if c.aliasMax > 0 || !m.Expires.IsZero() {
			return nil
		}
		format = message.FormatMQTT5QoS0
	} else if c.version != 4 {
		return nil
	}
	version := c.version
	return m.Encoded(format, func(m *message.Message) []byte {
		pk := publishPacket(version, m, 0, false, nil, 0, time.Time{})
		pk.ProtocolVersion = version
		var b bytes.Buffer
		if err := encode(&b, &pk); err != nil {
			return nil
		}
		return b.Bytes()
	})
}

// publishPacket builds the PUBLISH of m for a client of version.
func publishPacket(version byte, m *message.Message, qos byte, retain bool, subIDs []int, id uint16, now time.Time) packets.Packet {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName: m.Topic, Payload: m.Payload, PacketID: id}
	if version == 5 {
		pr := &pk.Properties
		pr.ContentType = m.ContentType
		pr.ResponseTopic = m.ResponseTopic
		pr.CorrelationData = m.CorrelationData
		pr.SubscriptionIdentifier = subIDs
		if m.UTF8 {
			pr.PayloadFormat, pr.PayloadFormatFlag = 1, true
		}
		for _, h := range m.Headers {
			pr.User = append(pr.User, packets.UserProperty{Key: h.Key, Val: h.Value})
		}
		if !m.Expires.IsZero() {
			pr.MessageExpiryInterval = uint32(max(1, m.Expires.Sub(now)/time.Second))
		}
	}
	return pk
}

// applyAlias replaces a repeated topic by its alias when the client allows
// aliases; the caller holds writeMu.
func (c *conn) applyAlias(pk *packets.Packet) {
	if c.version < 5 || c.aliasMax == 0 {
		return
	}
	if a, ok := c.outAlias[pk.TopicName]; ok {
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = a, true
		pk.TopicName = ""
		return
	}
	if len(c.outAlias) < int(c.aliasMax) {
		if c.outAlias == nil {
			c.outAlias = map[string]uint16{}
		}
		a := uint16(len(c.outAlias) + 1)
		c.outAlias[pk.TopicName] = a
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = a, true
	}
}
