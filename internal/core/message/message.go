// Package message is streamhub's one message model: every protocol converts
// what it receives into a Message and what it sends out of one.
package message

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Header is one metadata pair. A slice keeps order and allows repeated keys,
// as MQTT 5 user properties do.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Format names a wire encoding whose bytes are cached on the message, so a
// message is encoded once per format however many subscribers receive it.
type Format uint8

// The wire formats with a cache slot. Add new ones before numFormats.
const (
	FormatSSE Format = iota
	FormatSSETopicEvent
	FormatEnvelopeJSON
	FormatMQTT4QoS0 // PUBLISH, QoS 0, no retain flag, MQTT 3.1.1
	FormatMQTT5QoS0 // the same for MQTT 5, without alias or subscription ids
	numFormats
)

// Message is immutable once published: transports share one value among all
// subscribers and must not modify it.
type Message struct {
	Topic       string
	Payload     []byte
	ContentType string
	Headers     []Header
	Retain      bool
	// QoS is the delivery guarantee the publisher asked for (0, 1 or 2); a
	// subscriber gets the lower of it and its own. Publishes that the server
	// acknowledges on other protocols carry DefaultQoS.
	QoS uint8
	// Expires, when set, is when the message stops being delivered
	// (MQTT 5 message expiry).
	Expires time.Time
	// ResponseTopic and CorrelationData carry MQTT 5 request/response.
	ResponseTopic   string
	CorrelationData []byte
	// UTF8 is set when the publisher declared the payload UTF-8 text (MQTT 5
	// payload format indicator).
	UTF8 bool
	// Origin identifies the publishing session, for MQTT's no-local option.
	Origin string
	Time   time.Time
	// Seq and Epoch are assigned by the hub when the message is delivered;
	// together they form the message's Cursor.
	Seq   uint64
	Epoch string

	encoded [numFormats]atomic.Pointer[[]byte]
	// audience is how many subscriptions the hub queued the message for
	// when it was published, 0 if unknown.
	audience int
}

// SetAudience records how many subscriptions m was queued for. The hub
// calls it before queueing, so readers of the queue see the value.
func (m *Message) SetAudience(n int) { m.audience = n }

// Shared reports whether m may go to several subscribers, so that an
// encoding of it is worth caching; a message queued for one subscriber
// is better encoded straight into that subscriber's output.
func (m *Message) Shared() bool { return m.audience != 1 }

// DefaultQoS is the QoS of messages published by protocols without one of
// their own: the server acknowledges them, as MQTT QoS 1 does.
const DefaultQoS = 1

// Expired reports whether m has passed its expiry at now.
func (m *Message) Expired(now time.Time) bool { return !m.Expires.IsZero() && !now.Before(m.Expires) }

// Encoded returns the message encoded in format f, computing it with enc the
// first time. Concurrent first calls may both encode; one result wins.
func (m *Message) Encoded(f Format, enc func(*Message) []byte) []byte {
	if p := m.encoded[f].Load(); p != nil {
		return *p
	}
	b := enc(m)
	if m.encoded[f].CompareAndSwap(nil, &b) {
		return b
	}
	return *m.encoded[f].Load()
}

// IsText reports whether the payload can travel as text: valid UTF-8.
func (m *Message) IsText() bool { return utf8.Valid(m.Payload) }

// Size is the message's approximate memory cost, used by queue and history limits.
func (m *Message) Size() int {
	n := len(m.Topic) + len(m.Payload) + len(m.ContentType) + 96
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// Cursor returns the position of the message in its hub's history.
func (m *Message) Cursor() Cursor { return Cursor{Epoch: m.Epoch, Seq: m.Seq} }

// Cursor is a position in a hub's history: the epoch changes whenever the
// history starts over, so a cursor from another epoch signals a gap.
type Cursor struct {
	Epoch string
	Seq   uint64
}

// String renders the cursor as EPOCH-SEQ, the form every protocol uses.
func (c Cursor) String() string {
	if c.Epoch == "" && c.Seq == 0 {
		return ""
	}
	return c.Epoch + "-" + strconv.FormatUint(c.Seq, 10)
}

// Is reports whether s is c's String, without making it: a check that
// runs for every session every second must not allocate.
func (c Cursor) Is(s string) bool {
	if c.Epoch == "" && c.Seq == 0 {
		return s == ""
	}
	rest, ok := strings.CutPrefix(s, c.Epoch)
	if !ok || len(rest) == 0 || rest[0] != '-' {
		return false
	}
	var b [20]byte
	return rest[1:] == string(strconv.AppendUint(b[:0], c.Seq, 10))
}

// ParseCursor parses EPOCH-SEQ. The empty string is the zero cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return Cursor{}, fmt.Errorf("invalid cursor %q: want EPOCH-SEQ", s)
	}
	seq, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return Cursor{}, fmt.Errorf("invalid cursor %q: %w", s, err)
	}
	return Cursor{Epoch: s[:i], Seq: seq}, nil
}
