package hub

import (
	"context"

	"streamhub/internal/core/message"
)

// Fabric carries published messages to every node that shares the topic
// namespace. Send must eventually call deliver on each node, this one
// included, once per message. Local is the single-node fabric; a NATS
// JetStream fabric plugs in here for several nodes.
// The error of deliver is the local node's (a failed durable write): a
// publish is acknowledged only if its node stored it.
type Fabric interface {
	Send(ctx context.Context, m *message.Message, deliver func(*message.Message) error) error
}

// Local delivers on this node only, synchronously.
type Local struct{}

// Send delivers m at once.
func (Local) Send(_ context.Context, m *message.Message, deliver func(*message.Message) error) error {
	return deliver(m)
}
