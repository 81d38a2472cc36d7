package cluster

import (
	"fmt"

	"streamhub/internal/core/sessions"
	"streamhub/internal/core/topic"
	"streamhub/internal/quote"
)

// NATS closes a client's connection whose protocol line is longer than
// its max_control_line (4 KiB unless configured otherwise), and nats.go
// does not reconnect after that: one long topic would cut the node off.
// A line (PUB, HPUB or SUB) holds, besides one subject, a reply inbox or a
// queue group, sizes and spaces. So every subject (and KV key, a subject
// too) this node would send is checked against maxSubject first, and
// refused with the protocol's own answer to an invalid topic.
const (
	maxControlLine = 4096
	// lineRoom is what a line holds besides its subject: the verb, a reply
	// inbox ("_INBOX." and two 22-byte tokens), two sizes, the spaces.
	lineRoom   = 256
	maxSubject = maxControlLine - lineRoom
)

// CheckName refuses a topic name whose subject would not fit a NATS
// protocol line. The message, retained and non-durable subjects share
// one length: their kinds (".m", ".r", ".n") are as long.
func (b *JetStream) CheckName(name string) error {
	if n := topic.SubjectLen(b.cfg.Prefix+".m", name); n > maxSubject {
		return fmt.Errorf("invalid topic %s: %w", quote.Cut(name), subjectTooLong(n))
	}
	return nil
}

// CheckFilter refuses a filter whose subject filters would not fit: it
// could match no topic CheckName accepts (a $share queue subscription
// would send them, see MQTT.CheckShare).
func (b *JetStream) CheckFilter(filter string) error {
	for _, s := range topic.SubjectFilters(b.cfg.Prefix+".m", filter) {
		if len(s) > maxSubject {
			return fmt.Errorf("invalid filter %s: %w", quote.Cut(filter), subjectTooLong(len(s)))
		}
	}
	return nil
}

// subjectTooLong says how long a subject is and the limit.
func subjectTooLong(n int) error {
	return fmt.Errorf("%w: its NATS subject takes %d bytes, limit %d (NATS's max_control_line is %d)",
		topic.ErrSubjectTooLong, n, maxSubject, maxControlLine)
}

// nodeRoom is the room a session key leaves for a node name's token in a
// handover subject (any node's: a 192-byte name).
const nodeRoom = 256

// CheckKey refuses a session key whose KV key or handover subject would
// not fit a NATS protocol line: the longer of a KV read's subject
// ("$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>") and a handover's.
func (m *MQTT) CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty session key", sessions.ErrInvalidKey)
	}
	bucket := m.bucket
	room := max(len("$JS.API.DIRECT.GET.KV_"+bucket+".$KV."+bucket+"."), len(m.handoverSubject("", ""))+nodeRoom)
	if n := room + len(token(key)); n > maxSubject {
		return fmt.Errorf("%w: session key of %d bytes: %w", sessions.ErrInvalidKey, len(key), subjectTooLong(n))
	}
	return nil
}

// CheckShare refuses a $share group whose queue subscription would not
// fit a NATS protocol line: a subject filter of filter and the group's
// queue name together (Share).
func (m *MQTT) CheckShare(queue, filter string) error {
	for _, s := range topic.SubjectFilters(m.b.cfg.Prefix+".m", filter) {
		if n := len(s) + 1 + len(token(queue)); n > maxSubject {
			return fmt.Errorf("invalid filter %s: %w", quote.Cut(queue), subjectTooLong(n))
		}
	}
	return nil
}
