// Package wsproto is the codec of streamhub's WebSocket JSON protocol
// (GET /v1/ws): client requests to publish, subscribe, unsubscribe and ping.
// The server's replies are envelope.Control objects and messages travel as
// envelopes, as on NDJSON.
package wsproto

import (
	"encoding/json"
	"errors"
	"fmt"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// Client operations.
const (
	OpPublish     = "pub"
	OpSubscribe   = "sub"
	OpUnsubscribe = "unsub"
	OpPing        = "ping"
)

// Request is one client frame.
type Request struct {
	Op string `json:"op"`
	// ID, when set, is echoed in the reply so clients can match them.
	ID string `json:"id,omitempty"`

	// pub
	Topic       string           `json:"topic,omitempty"`
	Payload     string           `json:"payload,omitempty"`
	Encoding    string           `json:"encoding,omitempty"`
	ContentType string           `json:"content_type,omitempty"`
	Headers     []message.Header `json:"headers,omitempty"`
	Retain      bool             `json:"retain,omitempty"`
	QoS         *uint8           `json:"qos,omitempty"` // 0, 1 or 2; default 1

	// sub, unsub
	Topics []string `json:"topics,omitempty"`
	// Cursor resumes the new filters after that cursor (sub only).
	Cursor string `json:"cursor,omitempty"`
	// Retained=false skips retained messages on subscribe (default true).
	Retained *bool `json:"retained,omitempty"`
	// From (a cursor, a sequence number or an RFC 3339 time) or Last (the
	// latest N matching messages) replay history first (sub only).
	From string `json:"from,omitempty"`
	Last int    `json:"last,omitempty"`
}

// Decode parses and validates one client frame.
func Decode(b []byte) (*Request, error) {
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	switch r.Op {
	case OpPublish:
		if err := topic.ValidateName(r.Topic); err != nil {
			return &r, err
		}
		if _, err := envelope.DecodePayload(r.Encoding, r.Payload); err != nil {
			return &r, err
		}
		if r.QoS != nil && *r.QoS > 2 {
			return &r, errors.New("qos must be 0, 1 or 2")
		}
	case OpSubscribe, OpUnsubscribe:
		if r.Topic != "" {
			r.Topics = append(r.Topics, r.Topic)
		}
		if len(r.Topics) == 0 {
			return &r, errors.New("topics required")
		}
		for _, f := range r.Topics {
			if err := topic.ValidateFilter(f); err != nil {
				return &r, err
			}
		}
		if _, err := message.ParseCursor(r.Cursor); err != nil {
			return &r, err
		}
	case OpPing:
	case "":
		return &r, errors.New(`"op" required: pub, sub, unsub or ping`)
	default:
		return &r, fmt.Errorf("unknown op %q: want pub, sub, unsub or ping", r.Op)
	}
	return &r, nil
}

// Message builds the message a pub request publishes. Decode validated it.
func (r *Request) Message() (*message.Message, error) {
	p, err := envelope.DecodePayload(r.Encoding, r.Payload)
	if err != nil {
		return nil, err
	}
	qos := uint8(message.DefaultQoS)
	if r.QoS != nil {
		qos = *r.QoS
	}
	return &message.Message{Topic: r.Topic, Payload: p, ContentType: r.ContentType, Headers: r.Headers, Retain: r.Retain,
		QoS: qos}, nil
}
