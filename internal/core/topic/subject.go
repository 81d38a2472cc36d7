package topic

import (
	"errors"
	"fmt"
	"strings"
)

// NATS subjects carry topics between nodes (docs/CLUSTER.md). A topic's
// levels become a subject's tokens under a prefix; a byte that a NATS
// token cannot hold, or that would make it a wildcard, is escaped as '%'
// and two upper-case hex digits, '%' itself included, so that topics that
// differ only in such bytes never share a subject. Only ASCII letters,
// digits, '-' and '_' stay as they are. An empty level (MQTT allows
// "a//b", NATS no empty token) is the token "%" alone, which no escape
// produces.
//
//	topic                 subject (prefix "sh")
//	sensors/1/temp        sh.sensors.1.temp
//	$SYS/x                sh.%24SYS.x
//	a.b/c d               sh.a%2Eb.c%20d
//	a//b                  sh.a.%.b
//
// A filter's '+' becomes '*' and a final '#' becomes '>'; as "a/#" also
// matches "a", it maps to two subjects (SubjectFilters). NATS knows no
// MQTT rule that "+" and "#" skip $-topics: the hub's own matching, which
// every message passes on its way to a subscriber, applies it.

const emptyLevel = "%"

// Subject returns the NATS subject of a valid topic name under prefix (a
// valid subject itself, without wildcards).
func Subject(prefix, name string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(name) + len(name)/4)
	b.WriteString(prefix)
	for level := range strings.SplitSeq(name, "/") {
		b.WriteByte('.')
		writeToken(&b, level)
	}
	return b.String()
}

// SubjectLen is len(Subject(prefix, name)), counted without building it.
func SubjectLen(prefix, name string) int {
	n := len(prefix)
	for level := range strings.SplitSeq(name, "/") {
		n += 1 + tokenLen(level)
	}
	return n
}

// tokenLen is the length of a level's token (writeToken).
func tokenLen(level string) int {
	if level == "" {
		return len(emptyLevel)
	}
	n := len(level)
	for i := 0; i < len(level); i++ {
		if !plainSubjectByte(level[i]) {
			n += 2 // '%' and two hex digits for one byte
		}
	}
	return n
}

func writeToken(b *strings.Builder, level string) {
	if level == "" {
		b.WriteString(emptyLevel)
		return
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(level); i++ {
		c := level[i]
		if plainSubjectByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
}

func plainSubjectByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ErrNotTopicSubject is wrapped by TopicOfSubject for a subject that
// Subject did not make.
var ErrNotTopicSubject = errors.New("not a topic subject")

// TopicOfSubject returns the topic name whose Subject under prefix is
// subject. Only the exact output of Subject is accepted (upper-case hex,
// no escaped plain byte), so the mapping is one-to-one both ways.
func TopicOfSubject(prefix, subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return "", fmt.Errorf("%w: %q lacks the prefix %q", ErrNotTopicSubject, subject, prefix)
	}
	var b strings.Builder
	b.Grow(len(rest))
	for i, token := range strings.Split(rest, ".") {
		if i > 0 {
			b.WriteByte('/')
		}
		if err := readToken(&b, token); err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrNotTopicSubject, subject, err)
		}
	}
	name := b.String()
	if err := ValidateName(name); err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrNotTopicSubject, subject, err)
	}
	return name, nil
}

func readToken(b *strings.Builder, token string) error {
	if token == emptyLevel {
		return nil
	}
	if token == "" {
		return errors.New("empty token")
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if plainSubjectByte(c) {
			b.WriteByte(c)
			continue
		}
		if c != '%' || i+2 >= len(token) {
			return fmt.Errorf("byte %q at %d is neither plain nor an escape", c, i)
		}
		v, ok := upperHex(token[i+1], token[i+2])
		if !ok || plainSubjectByte(v) {
			return fmt.Errorf("escape %q at %d is not canonical", token[i:i+3], i)
		}
		b.WriteByte(v)
		i += 2
	}
	return nil
}

func upperHex(hi, lo byte) (byte, bool) {
	h, ok1 := hexDigit(hi)
	l, ok2 := hexDigit(lo)
	return h<<4 | l, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// SubjectFilters returns the NATS subject filters under prefix that
// together match the subjects of every topic a valid filter matches
// (and, for a filter starting with a wildcard, $-topics too; see above).
func SubjectFilters(prefix, filter string) []string {
	var b strings.Builder
	b.WriteString(prefix)
	levels := strings.Split(filter, "/")
	for i, level := range levels {
		switch level {
		case "#":
			parent := b.String()
			all := parent + ".>"
			if i == 0 {
				return []string{all}
			}
			return []string{parent, all} // "a/#" matches "a" too
		case "+":
			b.WriteString(".*")
		default:
			b.WriteByte('.')
			writeToken(&b, level)
		}
	}
	return []string{b.String()}
}
