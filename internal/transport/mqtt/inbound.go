package mqtt

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
)

// readFailed ends the connection after a failed read, with the reason a v5
// client is told; a clean disconnection is never a failed read.
func (c *conn) readFailed(err error) (clean bool) {
	if c.done.Closed() {
		return false
	}
	var ne net.Error
	switch code, ok := reasonOf(err); {
	case ok:
		c.srv.remote.Info("refused a packet", "transport", "mqtt", "remote", c.nc.RemoteAddr().String(), "reason", code.Reason, "err", err)
		c.kick(code)
	case errors.As(err, &ne) && ne.Timeout() && c.midPacket:
		c.kick(packets.Code{Code: packets.ErrKeepAliveTimeout.Code, Reason: "packet not completed within the packet timeout"})
	case errors.As(err, &ne) && ne.Timeout():
		c.kick(packets.ErrKeepAliveTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
	default:
		c.srv.remote.Info("malformed packet", "transport", "mqtt", "remote", c.nc.RemoteAddr().String(), "err", err)
		c.kick(packets.ErrMalformedPacket)
	}
	return false
}

// handleNext reads one packet and acts on it; ok is false when the
// connection is to end, clean then telling whether the client disconnected
// properly.
func (c *conn) handleNext() (ok, clean bool) {
	c.midPacket = true
	fh, body, err := readFrame(&c.in, c.srv.cfg.MaxPacket, c.srv.cfg.Partial)
	if err != nil {
		return false, c.readFailed(err)
	}
	c.midPacket = false
	c.holdWriter()
	if fh.Type == packets.Publish {
		pub := c.publisher()
		in, err := decodePublish(fh, body, c.version, pub.lastTopic)
		if err != nil {
			return false, c.readFailed(err)
		}
		pub.lastTopic = in.topic
		return c.onPublish(c.srv.ctx, &in), false
	}
	return c.handleControl(fh, body)
}

// handleControl acts on a packet other than PUBLISH.
func (c *conn) handleControl(fh packets.FixedHeader, body []byte) (ok, clean bool) {
	s := c.srv
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.version}
	if err := decodeBody(&pk, body); err != nil {
		return false, c.readFailed(err)
	}
	switch pk.FixedHeader.Type {
	case packets.Puback:
		c.onAck(pk.PacketID, awaitPuback)
	case packets.Pubrec:
		if pk.ReasonCode >= 0x80 {
			c.onAck(pk.PacketID, awaitPubrec) // refused: the flow ends here
			return true, false
		}
		c.onPubrec(pk.PacketID)
	case packets.Pubcomp:
		c.onAck(pk.PacketID, awaitPubcomp)
	case packets.Pubrel:
		c.sess.mu.Lock()
		_, known := c.sess.inboundQ2[pk.PacketID]
		delete(c.sess.inboundQ2, pk.PacketID)
		c.sess.mu.Unlock()
		reason := byte(0)
		if !known {
			reason = packets.ErrPacketIdentifierNotFound.Code
		}
		c.queueAck(packets.Pubcomp, pk.PacketID, reason)
	case packets.Subscribe:
		if !c.onSubscribe(&pk) {
			return false, false
		}
	case packets.Unsubscribe:
		if code := pk.UnsubscribeValidate(); code != packets.CodeSuccess {
			c.kick(code)
			return false, false
		}
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, PacketID: pk.PacketID}
		for _, f := range pk.Filters {
			code := packets.CodeSuccess.Code
			if !c.sess.unsubscribe(f.Filter) {
				code = packets.CodeNoSubscriptionExisted.Code
			}
			ack.ReasonCodes = append(ack.ReasonCodes, code)
		}
		c.sess.persist()
		c.queue(&ack)
	case packets.Pingreq:
		c.queue(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
	case packets.Disconnect:
		if c.version == 5 && pk.Properties.SessionExpiryIntervalFlag {
			c.sess.mu.Lock()
			if c.sess.expiry == 0 && pk.Properties.SessionExpiryInterval > 0 {
				c.sess.mu.Unlock()
				c.kick(packets.ErrProtocolViolationZeroNonZeroExpiry) // [MQTT-3.14.2-2]
				return false, false
			}
			c.sess.expiry = time.Duration(pk.Properties.SessionExpiryInterval) * time.Second
			if max := s.cfg.SessionExpiryMax; max > 0 {
				c.sess.expiry = min(c.sess.expiry, max)
			}
			c.sess.mu.Unlock()
		}
		return false, pk.ReasonCode != packets.CodeDisconnectWillMessage.Code
	case packets.Connect:
		c.kick(packets.ErrProtocolViolationSecondConnect)
		return false, false
	case packets.Auth:
		c.kick(packets.ErrBadAuthenticationMethod)
		return false, false
	default:
		c.kick(packets.ErrProtocolViolation)
		return false, false
	}
	return true, false
}

// onPublish takes a client's PUBLISH into the hub and acknowledges it.
func (c *conn) onPublish(ctx context.Context, pk *inPublish) bool {
	qos := pk.qos
	name := pk.topic
	if pr := pk.props; pr != nil && pr.TopicAliasFlag {
		alias := pr.TopicAlias
		if alias == 0 || alias > c.srv.cfg.TopicAliasMax {
			c.kick(packets.ErrTopicAliasInvalid)
			return false
		}
		pub := c.publisher()
		if name != "" {
			if pub.aliases == nil {
				pub.aliases = map[uint16]string{}
			}
			pub.aliases[alias] = name
		} else if name = pub.aliases[alias]; name == "" {
			c.kick(packets.ErrTopicAliasInvalid)
			return false
		}
	}
	if !topic.IsValidName(name) {
		c.kick(packets.ErrTopicNameInvalid)
		return false
	}
	if qos > 0 && pk.id == 0 {
		c.kick(packets.ErrProtocolViolationNoPacketID)
		return false
	}
	pub := c.publisher()
	if !limit.Allow(pub.limiter) {
		c.kick(packets.ErrMessageRateTooHigh)
		return false
	}
	if !c.srv.cfg.Policy.CanPublish(pub.who, name) {
		// Refused: v5 says so in the acknowledgement; v3.1.1 has no way
		// to, so the message is acknowledged and dropped, as Mosquitto does.
		c.ackPublish(qos, pk.id, packets.ErrNotAuthorized.Code)
		return true
	}
	if qos == 2 {
		c.sess.mu.Lock()
		_, dup := c.sess.inboundQ2[pk.id]
		full := !dup && len(c.sess.inboundQ2) >= int(c.srv.cfg.ReceiveMaximum)
		if !dup && !full {
			if c.sess.inboundQ2 == nil {
				c.sess.inboundQ2 = map[uint16]struct{}{}
			}
			c.sess.inboundQ2[pk.id] = struct{}{}
		}
		c.sess.mu.Unlock()
		if full {
			c.kick(packets.ErrReceiveMaximum)
			return false
		}
		if dup { // already taken in: acknowledge again, never publish twice
			c.ackPublish(qos, pk.id, 0)
			return true
		}
	}
	m := &message.Message{Topic: name, Payload: pk.payload, Retain: pk.retain, QoS: qos, Origin: c.sess.id}
	ctx = hub.PublishedBy(ctx, m, c.userName())
	if pr := pk.props; pr != nil {
		applyProperties(m, pr)
		m.UTF8 = pr.PayloadFormatFlag && pr.PayloadFormat == 1
	}
	if qos == 0 {
		_, err := c.srv.hub.Publish(ctx, m)
		_, ok := c.publishOutcome(qos, err)
		return ok
	}
	// Read on while the hub stores it: the next publishes share its commit.
	if !c.expectAck(qos, pk.id) {
		return false
	}
	c.srv.hub.PublishAsync(ctx, m, c.loadAcks().onStored)
	return !c.ended() // a refusal answered at once may have ended it
}

// publishOutcome counts a publish the hub took, or answers its refusal:
// the reason for the acknowledgement, or ok false once the connection is
// ended because the client cannot be told otherwise.
func (c *conn) publishOutcome(qos byte, err error) (reason byte, ok bool) {
	if err == nil {
		c.srv.received.Add(1)
		c.srv.meter.Received(1)
		return packets.CodeSuccess.Code, true
	}
	if errors.Is(err, hub.ErrTooLarge) {
		// A packet over the server's limits is a protocol error, not a
		// refused publish: 0x95 is no PUBACK reason code [MQTT-3.4.2.1].
		c.kick(packets.Code{Code: packets.ErrPacketTooLarge.Code, Reason: err.Error()})
		return 0, false
	}
	if errors.Is(err, hub.ErrRetainedQuota) {
		// Refused like a publish without the right: v5 says so in the
		// acknowledgement, v3.1.1 and QoS 0 cannot be told.
		return packets.ErrQuotaExceeded.Code, true
	}
	reason = packets.ErrUnspecifiedError.Code
	kick := reason
	switch {
	case topic.IsInvalid(err): // a topic a cluster cannot carry (hub.ValidateName)
		reason, kick = packets.ErrTopicNameInvalid.Code, packets.ErrTopicNameInvalid.Code
	case errors.Is(err, hub.ErrUnavailable):
		// Not stored, so not acknowledged: 0x97 tells an MQTT 5
		// client to try later; without a PUBACK to carry it, the
		// connection ends with "server busy" and the client
		// reconnects, perhaps to another node.
		reason, kick = packets.ErrQuotaExceeded.Code, packets.ErrServerBusy.Code
	}
	if qos == 0 || c.version < 5 {
		c.kick(packets.Code{Code: kick, Reason: err.Error()})
		return 0, false
	}
	return reason, true
}

// ended reports whether the connection is closing.
func (c *conn) ended() bool { return c.done.Closed() }

// queueAck queues a PUBACK, PUBREC, PUBREL or PUBCOMP; the writer sends it.
func (c *conn) queueAck(typ byte, id uint16, reason byte) {
	c.writeMu.Lock()
	out := c.outLocked()
	*out = appendAck(*out, typ, id, reason, c.version)
	c.writeMu.Unlock()
	c.poke()
}

func (c *conn) onSubscribe(pk *packets.Packet) bool {
	if code := pk.SubscribeValidate(); code != packets.CodeSuccess {
		c.kick(code)
		return false
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, PacketID: pk.PacketID}
	for _, f := range pk.Filters {
		f.Filter = strings.Clone(f.Filter) // kept by the session and the hub: not a view into the packet
		if _, _, shared := parseShare(f.Filter); shared && f.NoLocal {
			c.kick(packets.ErrProtocolViolationInvalidSharedNoLocal) // [MQTT-3.8.3-4]
			return false
		}
		if c.version < 5 {
			f.RetainHandling, f.NoLocal, f.RetainAsPublished, f.Identifier = 0, false, false, 0
			f.NoLocal, f.RetainAsPublished = c.bridge, c.bridge // bridge.go
		}
		if !c.authorizeSubscribe(f.Filter) {
			code := packets.ErrNotAuthorized.Code
			if c.version < 5 {
				code = 0x80
			}
			ack.ReasonCodes = append(ack.ReasonCodes, code)
			continue
		}
		code := c.sess.subscribe(f)
		if c.version < 5 && code >= 0x80 {
			code = 0x80
		}
		ack.ReasonCodes = append(ack.ReasonCodes, code)
	}
	c.sess.persist()
	c.queue(&ack)
	return true
}

// authorizeSubscribe applies the policy to one filter: refused, or allowed
// with the session restricted to readable messages where a wildcard reaches
// beyond the grants. A shared subscription must be allowed whole.
func (c *conn) authorizeSubscribe(filter string) bool {
	p := c.srv.cfg.Policy
	if p.Open() {
		return true
	}
	f := filter
	_, inner, shared := parseShare(filter)
	if shared {
		f = inner
	}
	who := c.identity()
	ok, restricted := p.CanSubscribe(who, f)
	if !ok || (shared && restricted) {
		return false
	}
	if restricted {
		c.sess.restrict(p.ReadCheck(who))
	}
	return true
}

// onAck ends an outbound flow in state want and frees its slot.
func (c *conn) onAck(id uint16, want int) {
	ss := c.sess
	ss.mu.Lock()
	if o := ss.inflight.get(id); o != nil && o.state == want {
		ss.inflight.remove(id)
		ss.inflight.compact()
	}
	ss.mu.Unlock()
	c.poke()
}

func (c *conn) onPubrec(id uint16) {
	ss := c.sess
	ss.mu.Lock()
	o := ss.inflight.get(id)
	if o != nil && o.state == awaitPubrec {
		o.state = awaitPubcomp
	}
	ss.mu.Unlock()
	reason := byte(0)
	if o == nil {
		reason = packets.ErrPacketIdentifierNotFound.Code
	}
	c.queueAck(packets.Pubrel, id, reason)
}
