// Package envelope is the JSON the server sends, shared by the NDJSON
// stream, the WebSocket JSON protocol, long polling and the CLI: the
// envelope of a message (one object with the topic, cursor and payload,
// text payloads as JSON strings and binary ones base64-encoded) and the one
// vocabulary of control objects around messages (control.go).
package envelope

import (
	"encoding/base64"
	"fmt"
	"time"
	"unicode/utf8"

	"streamhub/internal/core/message"
)

// TypeMessage is the type of an envelope; control objects (control.go)
// have the other types.
const TypeMessage = "message"

// Base64 is the Encoding value of a binary payload.
const Base64 = "base64"

// Envelope is one message as JSON.
type Envelope struct {
	Type        string           `json:"type"`
	Topic       string           `json:"topic,omitempty"`
	ID          string           `json:"id,omitempty"`
	Time        *time.Time       `json:"time,omitempty"`
	ContentType string           `json:"content_type,omitempty"`
	Headers     []message.Header `json:"headers,omitempty"`
	Retained    bool             `json:"retained,omitempty"`
	Encoding    string           `json:"encoding,omitempty"`
	Payload     string           `json:"payload"`
}

// From builds the envelope of m; retained marks a retained delivery.
func From(m *message.Message, retained bool) Envelope {
	t := m.Time.UTC()
	e := Envelope{Type: TypeMessage, Topic: m.Topic, ID: m.Cursor().String(), Time: &t,
		ContentType: m.ContentType, Headers: m.Headers, Retained: retained}
	e.Encoding, e.Payload = EncodePayload(m.Payload)
	return e
}

// EncodePayload returns a payload as a JSON-safe string and its encoding:
// valid UTF-8 as it is, anything else base64.
func EncodePayload(p []byte) (encoding, s string) {
	if utf8.Valid(p) {
		return "", string(p)
	}
	return Base64, base64.StdEncoding.EncodeToString(p)
}

// DecodePayload reverses EncodePayload.
func DecodePayload(encoding, s string) ([]byte, error) {
	switch encoding {
	case "", "text", "utf-8":
		return []byte(s), nil
	case Base64:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("envelope: payload is not valid base64: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("envelope: unknown payload encoding %q", encoding)
}

// PayloadBytes decodes the envelope's payload.
func (e *Envelope) PayloadBytes() ([]byte, error) { return DecodePayload(e.Encoding, e.Payload) }

// Marshal encodes m without a trailing newline. Live deliveries are cached
// on the message so each is encoded once for all subscribers.
func Marshal(m *message.Message, retained bool) []byte {
	if retained {
		return encode(m, true)
	}
	return m.Encoded(message.FormatEnvelopeJSON, func(m *message.Message) []byte { return encode(m, false) })
}

func encode(m *message.Message, retained bool) []byte {
	return AppendJSON(make([]byte, 0, 128+len(m.Payload)*4/3), m, retained)
}
