package kit

import (
	"context"
	"errors"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/quote"
)

// SubscribeRequest is what a client asks for when it subscribes, whatever
// protocol carried the request: who asks, which filters, from where.
type SubscribeRequest struct {
	Identity *auth.Identity // nil: anonymous
	Filters  []string
	From     hub.StartFrom
}

// ForbiddenError is the security policy refusing one of the filters.
type ForbiddenError struct {
	Filter string
}

func (e *ForbiddenError) Error() string {
	return "not allowed to subscribe to " + quote.Cut(e.Filter)
}

// IsForbidden reports whether err is a refusal by the security policy.
func IsForbidden(err error) bool {
	var fe *ForbiddenError
	return errors.As(err, &fe)
}

// Authorize checks every filter of req against the policy (nil: open),
// returning a *ForbiddenError for the first refused one. When a wildcard
// reaches beyond the identity's grants it restricts sub to the messages the
// identity may read, so the hub filters live, retained and replayed alike.
func Authorize(p *auth.Policy, sub *hub.Subscription, req SubscribeRequest) error {
	denied, check := p.CheckSubscribe(req.Identity, req.Filters)
	if denied != "" {
		return &ForbiddenError{Filter: denied}
	}
	if check != nil {
		sub.Restrict(check)
	}
	return nil
}

// Subscribe authorizes req and subscribes sub to its filters from its
// starting point. Errors are a *ForbiddenError or the hub's (invalid
// topic, too many subscriptions, shutdown), for the transport to map onto
// its protocol.
func Subscribe(p *auth.Policy, sub *hub.Subscription, req SubscribeRequest) (hub.Start, error) {
	if err := Authorize(p, sub, req); err != nil {
		return hub.Start{}, err
	}
	return sub.Subscribe(req.Filters, req.From)
}

// EndReason is why a subscription ended, in the terms every protocol maps
// onto its own close (SSE event, WebSocket close code, MQTT DISCONNECT...).
type EndReason int

const (
	// EndClosed: the connection or the subscription was closed normally.
	EndClosed EndReason = iota
	// EndShutdown: the server is shutting down; the client may come back.
	EndShutdown
	// EndSlowConsumer: the subscriber's queue overflowed under the
	// disconnect policy; the client may resume from its cursor.
	EndSlowConsumer
	// EndKicked: an operator disconnected the client (admin API).
	EndKicked
)

// EndOf maps the error a subscription or writer loop ended with onto its
// reason.
func EndOf(err error) EndReason {
	switch {
	case errors.Is(err, hub.ErrShutdown):
		return EndShutdown
	case errors.Is(err, hub.ErrSlowConsumer):
		return EndSlowConsumer
	case errors.Is(err, hub.ErrKicked):
		return EndKicked
	}
	return EndClosed
}

// String is the reason's wire name where a protocol carries one as text
// (SSE and NDJSON close events, the TCP text protocol).
func (r EndReason) String() string {
	switch r {
	case EndShutdown:
		return "shutdown"
	case EndSlowConsumer:
		return "slow_consumer"
	case EndKicked:
		return "kicked"
	}
	return "closed"
}

// Subscriptions is the part of the core a subscribing transport needs.
type Subscriptions interface {
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
}

// Publisher is the part of the core a publishing transport needs.
type Publisher interface {
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
}

// PubSub is what a transport that both publishes and subscribes needs.
type PubSub interface {
	Subscriptions
	Publisher
}
