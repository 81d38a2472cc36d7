package mqtt

import (
	"bytes"
	"encoding/binary"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/message"
)

// PUBLISH is nearly all of a broker's traffic, both ways, so it has its own
// encoder and decoder here: straight between the wire and a Message, with
// no intermediate packets.Packet (a struct of some 700 bytes, zeroed and
// copied per packet) and no allocation but the packet's own bytes. Every
// other packet goes through mochi-mqtt's codec (codec.go).

// outPublish is how one PUBLISH of a message goes to one client.
type outPublish struct {
	version byte
	qos     byte
	retain  bool
	dup     bool
	id      uint16
	subIDs  []int
	alias   uint16 // topic alias property, 0 for none
	noTopic bool   // the alias stands for the topic: send an empty name
	expiry  uint32 // remaining message expiry in seconds, 0 for none
}

// MQTT 5 property identifiers used in PUBLISH.
const (
	propPayloadFormat   = 0x01
	propMessageExpiry   = 0x02
	propContentType     = 0x03
	propResponseTopic   = 0x08
	propCorrelationData = 0x09
	propSubscriptionID  = 0x0B
	propTopicAlias      = 0x23
	propUser            = 0x26
)

// appendPublish appends m's PUBLISH as o describes it.
func appendPublish(dst []byte, m *message.Message, o outPublish) []byte {
	name := m.Topic
	if o.noTopic {
		name = ""
	}
	rem, props := publishLengths(m, o)
	b0 := byte(0x30) | o.qos<<1
	if o.dup {
		b0 |= 0x08
	}
	if o.retain {
		b0 |= 0x01
	}
	dst = append(dst, b0)
	dst = appendVarint(dst, rem)
	dst = appendString(dst, name)
	if o.qos > 0 {
		dst = binary.BigEndian.AppendUint16(dst, o.id)
	}
	if o.version == 5 {
		dst = appendVarint(dst, props)
		if m.UTF8 {
			dst = append(dst, propPayloadFormat, 1)
		}
		if o.expiry > 0 {
			dst = append(dst, propMessageExpiry)
			dst = binary.BigEndian.AppendUint32(dst, o.expiry)
		}
		if m.ContentType != "" {
			dst = append(dst, propContentType)
			dst = appendString(dst, m.ContentType)
		}
		if m.ResponseTopic != "" {
			dst = append(dst, propResponseTopic)
			dst = appendString(dst, m.ResponseTopic)
		}
		if len(m.CorrelationData) > 0 {
			dst = append(dst, propCorrelationData)
			dst = appendString(dst, string(m.CorrelationData))
		}
		for _, id := range o.subIDs {
			dst = append(dst, propSubscriptionID)
			dst = appendVarint(dst, id)
		}
		if o.alias > 0 {
			dst = append(dst, propTopicAlias)
			dst = binary.BigEndian.AppendUint16(dst, o.alias)
		}
		for _, h := range m.Headers {
			dst = append(dst, propUser)
			dst = appendString(dst, h.Key)
			dst = appendString(dst, h.Value)
		}
	}
	return append(dst, m.Payload...)
}

// publishSize is the length appendPublish would append.
func publishSize(m *message.Message, o outPublish) int {
	rem, _ := publishLengths(m, o)
	return 1 + varintLen(rem) + rem
}

// publishLengths returns the remaining length of m's PUBLISH and, for
// MQTT 5, the length of its properties.
func publishLengths(m *message.Message, o outPublish) (rem, props int) {
	rem = 2 + len(m.Topic) + len(m.Payload)
	if o.noTopic {
		rem -= len(m.Topic)
	}
	if o.qos > 0 {
		rem += 2
	}
	if o.version == 5 {
		props = publishPropsLen(m, o)
		rem += varintLen(props) + props
	}
	return rem, props
}

func publishPropsLen(m *message.Message, o outPublish) int {
	n := 0
	if m.UTF8 {
		n += 2
	}
	if o.expiry > 0 {
		n += 5
	}
	if m.ContentType != "" {
		n += 3 + len(m.ContentType)
	}
	if m.ResponseTopic != "" {
		n += 3 + len(m.ResponseTopic)
	}
	if len(m.CorrelationData) > 0 {
		n += 3 + len(m.CorrelationData)
	}
	for _, id := range o.subIDs {
		n += 1 + varintLen(id)
	}
	if o.alias > 0 {
		n += 3
	}
	for _, h := range m.Headers {
		n += 5 + len(h.Key) + len(h.Value)
	}
	return n
}

// expirySeconds is what is left of m's expiry at now, in whole seconds and
// at least one; 0 when m does not expire.
func expirySeconds(m *message.Message, now time.Time) uint32 {
	if m.Expires.IsZero() {
		return 0
	}
	return uint32(max(1, m.Expires.Sub(now)/time.Second))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// appendVarint appends MQTT's variable byte integer.
func appendVarint(dst []byte, v int) []byte {
	for {
		b := byte(v & 0x7F)
		v >>= 7
		if v > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if v == 0 {
			return dst
		}
	}
}

func varintLen(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	}
	return 4
}

// inPublish is a client's PUBLISH as decodePublish reads it.
type inPublish struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
	id      uint16
	props   *packets.Properties // nil when there are none (always for 3.1.1)
}

// decodePublish decodes a PUBLISH body. The payload (and the properties)
// share the body's memory: they live as long as the message. The topic is
// copied: it also outlives the message, as a topic alias either way and as
// a key of the retained store, and a view would keep the whole packet.
// prev is the topic of the connection's previous PUBLISH, taken instead of
// a new copy when the name is the same: clients publish runs to one topic.
func decodePublish(fh packets.FixedHeader, body []byte, version byte, prev string) (in inPublish, err error) {
	in.qos, in.retain = fh.Qos, fh.Retain
	if len(body) < 2 {
		return in, packets.ErrMalformedTopic
	}
	n := int(binary.BigEndian.Uint16(body))
	off := 2 + n
	if off > len(body) {
		return in, packets.ErrMalformedTopic
	}
	name := body[2:off]
	if !utf8.Valid(name) || bytes.IndexByte(name, 0) >= 0 { // [MQTT-1.5.4-1] [MQTT-1.5.4-2]
		return in, packets.ErrMalformedTopic
	}
	in.topic = prev
	if string(name) != prev { // compared without a copy
		in.topic = string(name)
	}
	if in.qos > 0 {
		if off+2 > len(body) {
			return in, packets.ErrMalformedPacketID
		}
		in.id = binary.BigEndian.Uint16(body[off:])
		off += 2
	}
	if version == 5 {
		if off >= len(body) {
			return in, packets.ErrMalformedProperties
		}
		if body[off] == 0 {
			off++
		} else {
			pr := new(packets.Properties)
			n, err := decodeProperties(pr, body[off:])
			if err != nil {
				return in, err
			}
			in.props = pr
			off += n
		}
	}
	in.payload = body[off:]
	return in, nil
}

// decodeProperties decodes PUBLISH properties with mochi-mqtt's decoder,
// a panic in which is a malformed packet (see decodeBody).
func decodeProperties(pr *packets.Properties, b []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = packets.ErrMalformedProperties
		}
	}()
	n, err = pr.Decode(packets.Publish, bytes.NewBuffer(b))
	if err != nil {
		return 0, packets.ErrMalformedProperties
	}
	return n, nil
}

// appendAck appends PUBACK, PUBREC, PUBREL or PUBCOMP; MQTT 5 omits a
// success reason code.
func appendAck(dst []byte, typ byte, id uint16, reason byte, version byte) []byte {
	b0 := typ << 4
	if typ == packets.Pubrel {
		b0 |= 0x02
	}
	if version == 5 && reason != 0 {
		return append(dst, b0, 3, byte(id>>8), byte(id), reason)
	}
	return append(dst, b0, 2, byte(id>>8), byte(id))
}
