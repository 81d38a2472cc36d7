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
	r := &reader{b: append([]byte(nil), b...)}
	if r.byte() != codecVersion {
		return nil, errCorrupt
	}
	flags := r.byte()
	m := &message.Message{QoS: r.byte(), Epoch: epoch}
	m.Retain, m.UTF8 = flags&flagRetain != 0, flags&flagUTF8 != 0
	m.Seq = r.uvarint()
	m.Time = time.Unix(0, r.varint())
	if exp := r.varint(); exp != 0 {
		m.Expires = time.Unix(0, exp)
	}
	m.Topic = string(r.bytes())
	m.Payload = r.bytes()
	m.ContentType = string(r.bytes())
	m.ResponseTopic = string(r.bytes())
	if cd := r.bytes(); len(cd) > 0 {
		m.CorrelationData = cd
	}
	m.Origin = string(r.bytes())
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return nil, errCorrupt
	}
	for range n {
		m.Headers = append(m.Headers, message.Header{Key: string(r.bytes()), Value: string(r.bytes())})
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// EncodeMessage appends m's record to b: the bytes a cluster broker
// carries between nodes, so that they hold every field a stored message
// does.
func EncodeMessage(b []byte, m *message.Message) []byte { return encodeMessage(b, m) }

// DecodeMessage parses a record made by EncodeMessage, in epoch.
func DecodeMessage(b []byte, epoch string) (*message.Message, error) { return decodeMessage(b, epoch) }
