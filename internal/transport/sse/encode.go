package sse

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"streamhub/internal/core/message"
)

// Text reports whether a payload can be an SSE data field unchanged: valid
// UTF-8 without CR (which SSE would turn into a line break) or NUL.
func Text(p []byte) bool {
	return utf8.Valid(p) && bytes.IndexByte(p, '\r') < 0 && bytes.IndexByte(p, 0) < 0
}

// AppendEvent appends m as one SSE event:
//
//	id: CURSOR            (omitted for retained deliveries)
//	event: TOPIC          (only with topicEvent)
//	topic: TOPIC          (ignored by EventSource; for other clients)
//	encoding: base64      (only for payloads that are not SSE text)
//	data: LINE            (one per payload line)
//
// EventSource joins data lines with "\n", so onmessage gets the payload.
func AppendEvent(buf []byte, m *message.Message, withID, topicEvent bool) []byte {
	if withID {
		buf = append(buf, "id: "...)
		buf = append(buf, m.Cursor().String()...)
		buf = append(buf, '\n')
	}
	if safeField(m.Topic) {
		if topicEvent {
			buf = append(buf, "event: "...)
			buf = append(buf, m.Topic...)
			buf = append(buf, '\n')
		}
		buf = append(buf, "topic: "...)
		buf = append(buf, m.Topic...)
		buf = append(buf, '\n')
	}
	payload := m.Payload
	if !Text(payload) {
		buf = append(buf, "encoding: base64\n"...)
		payload = base64.StdEncoding.AppendEncode(nil, payload)
	}
	for {
		line, rest, more := bytes.Cut(payload, []byte{'\n'})
		buf = append(buf, "data: "...)
		buf = append(buf, line...)
		buf = append(buf, '\n')
		if !more {
			break
		}
		payload = rest
	}
	return append(buf, '\n')
}

func safeField(s string) bool { return !strings.ContainsAny(s, "\r\n") }

// Event returns m's live event bytes, encoded once per message and shared.
func Event(m *message.Message, topicEvent bool) []byte {
	f := message.FormatSSE
	if topicEvent {
		f = message.FormatSSETopicEvent
	}
	return m.Encoded(f, func(m *message.Message) []byte { return AppendEvent(nil, m, true, topicEvent) })
}
