package envelope

import "encoding/json"

// Control is every JSON object the server sends that is not a message, on
// every protocol that speaks JSON (NDJSON lines, WebSocket JSON frames),
// and what the CLI reads them into. Each type uses some of the fields:
//
//	subscribed    head (the cursor a subscription starts at); over WebSocket id, gap
//	gap           cursor (history after it is gone), head
//	close         reason (a kit end reason: shutdown, slow_consumer, kicked)
//	ack           id, cursor (of the message published)
//	unsubscribed  id
//	pong          id
//	error         id, code (one of the Code constants), message
//
// The field order is the wire order documented in docs/PROTOCOLS.md.
type Control struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"` // the request's, echoed (WebSocket JSON)
	Cursor  string `json:"cursor,omitempty"`
	Head    string `json:"head,omitempty"`
	Gap     bool   `json:"gap,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Control types.
const (
	TypeSubscribed   = "subscribed"
	TypeUnsubscribed = "unsubscribed"
	TypeGap          = "gap"
	TypeClose        = "close"
	TypeAck          = "ack"
	TypePong         = "pong"
	TypeError        = "error"
)

// Codes of error controls.
const (
	CodeBadRequest           = "bad_request"
	CodeForbidden            = "forbidden"
	CodeRateLimited          = "rate_limited"
	CodePublishFailed        = "publish_failed"
	CodeTooManySubscriptions = "too_many_subscriptions"
	CodeSubscribeFailed      = "subscribe_failed"
	// CodeUnavailable: the server cannot take publishes now (a cluster
	// node cut off from NATS); the client may try again, here or on
	// another node.
	CodeUnavailable = "unavailable"
)

// Encode returns the control's JSON, without a trailing newline.
func (c Control) Encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		// Strings and a bool: Marshal cannot fail.
		panic("envelope: marshal control: " + err.Error())
	}
	return b
}
