package store

import (
	"encoding/binary"
	"errors"
	"time"

	"streamhub/internal/core/message"
)

// Messages are stored in a compact binary form: a version byte, then
// varint-prefixed fields. Decode checks every length against the input.
const codecVersion = 1

const (
	flagRetain = 1 << iota
	flagUTF8
)

var errCorrupt = errors.New("store: corrupt message record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// encodeMessage appends m's record to b.
func encodeMessage(b []byte, m *message.Message) []byte {
	b = append(b, codecVersion)
	var flags byte
	if m.Retain {
		flags |= flagRetain
	}
	if m.UTF8 {
		flags |= flagUTF8
	}
	b = append(b, flags, m.QoS)
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendVarint(b, m.Time.UnixNano())
	var exp int64
	if !m.Expires.IsZero() {
		exp = m.Expires.UnixNano()
	}
	b = binary.AppendVarint(b, exp)
	b = appendString(b, m.Topic)
	b = appendBytes(b, m.Payload)
	b = appendString(b, m.ContentType)
	b = appendString(b, m.ResponseTopic)
	b = appendBytes(b, m.CorrelationData)
	b = appendString(b, m.Origin)
	b = binary.AppendUvarint(b, uint64(len(m.Headers)))
	for _, h := range m.Headers {
		b = appendString(b, h.Key)
		b = appendString(b, h.Value)
	}
	return b
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// decodeMessage parses a record; the message shares no memory with b.
func decodeMessage(b []byte, epoch string) (*message.Message, error) {
	m := &message.Message{}
	if err := decodeInto(m, append([]byte(nil), b...), epoch, nil); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeInto parses record b into m, whose payload and correlation data
// then point into b; repeated strings come from names when not nil.
func decodeInto(m *message.Message, b []byte, epoch string, names *recentStrings) error {
	r := reader{b: b}
	if r.byte() != codecVersion {
		return errCorrupt
	}
	flags := r.byte()
	m.QoS, m.Epoch = r.byte(), epoch
	m.Retain, m.UTF8 = flags&flagRetain != 0, flags&flagUTF8 != 0
	m.Seq = r.uvarint()
	m.Time = time.Unix(0, r.varint())
	if exp := r.varint(); exp != 0 {
		m.Expires = time.Unix(0, exp)
	}
	m.Topic = names.string(r.bytes())
	m.Payload = r.bytes()
	m.ContentType = names.string(r.bytes())
	m.ResponseTopic = string(r.bytes())
	if cd := r.bytes(); len(cd) > 0 {
		m.CorrelationData = cd
	}
	m.Origin = names.string(r.bytes())
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return errCorrupt
	}
	for range n {
		m.Headers = append(m.Headers, message.Header{Key: string(r.bytes()), Value: string(r.bytes())})
	}
	return r.err
}

// pageDecoder decodes the records of one replay page into memory the
// page shares: messages from slabs, record bytes (payloads) from large
// buffers, and the strings that repeat from record to record (a stream's
// topics, content types and publishers are few) made once. A page's
// messages are queued and delivered together, so its memory lives about
// as long as one message would; allocating each apart was most of a
// replay's cost.
type pageDecoder struct {
	epoch string
	slab  []message.Message
	buf   []byte
	names recentStrings
}

const (
	pageSlab   = 128      // messages per slab
	pageBuffer = 64 << 10 // bytes per record buffer, unless a record is larger
)

// decode parses record b into the page; keep(m) says whether m stays in it
// (a message that does not is overwritten by the next).
func (d *pageDecoder) decode(b []byte, keep func(*message.Message) bool) (*message.Message, error) {
	if len(d.slab) == cap(d.slab) {
		d.slab = make([]message.Message, 0, pageSlab)
	}
	if cap(d.buf)-len(d.buf) < len(b) {
		d.buf = make([]byte, 0, max(pageBuffer, len(b)))
	}
	start := len(d.buf)
	d.buf = append(d.buf, b...)
	m := &d.slab[:len(d.slab)+1][len(d.slab)]
	if err := decodeInto(m, d.buf[start:len(d.buf):len(d.buf)], d.epoch, &d.names); err != nil || !keep(m) {
		*m = message.Message{}
		d.buf = d.buf[:start]
		return nil, err
	}
	d.slab = d.slab[:len(d.slab)+1]
	return m, nil
}

// recentStrings remembers the last few strings made, so that a value that
// repeats is made once.
type recentStrings struct {
	last [8]string
	next int
}

// string returns b as a string, one made before if it is among the last
// few; a nil receiver makes a new one every time.
func (n *recentStrings) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if n == nil {
		return string(b)
	}
	for _, s := range n.last {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	n.last[n.next] = s
	n.next = (n.next + 1) % len(n.last)
	return s
}

// EncodeMessage appends m's record to b: the bytes a cluster broker
// carries between nodes, so that they hold every field a stored message
// does.
func EncodeMessage(b []byte, m *message.Message) []byte { return encodeMessage(b, m) }

// DecodeMessage parses a record made by EncodeMessage, in epoch.
func DecodeMessage(b []byte, epoch string) (*message.Message, error) { return decodeMessage(b, epoch) }
