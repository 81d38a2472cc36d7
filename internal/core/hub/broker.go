package hub

import (
	"context"
	"errors"
	"time"

	"streamhub/internal/core/message"
)

// Broker is where published messages go and where every node's messages
// come from: it owns positions (cursors), stored history, retained
// messages and the carrying of each message to every node that shares the
// topic namespace. The hub keeps the local side on every node: the
// subscription index, the memory windows and the bounded subscriber
// queues with their overflow policy.
//
// It is written for its two implementations: the embedded one
// (broker_local.go: this process's sequence, the pebble store, delivery
// inside Publish) and NATS JetStream (positions from the stream sequence,
// durable topics in a stream, retained messages last-per-subject, inbound
// delivery from a consumer). docs/ARCHITECTURE.md, "The broker seam".
type Broker interface {
	// Epoch names the position space: a cursor of this epoch means the
	// same message on every node sharing the broker.
	Epoch() string
	// Head is the position of the last message stored when this node
	// joined: Run delivers from the next one, and older messages are only
	// in the broker (Replay).
	Head() uint64
	// Publish appends m and returns its position once the broker holds it
	// as its topic requires (a durable topic: stored, and on a cluster
	// acknowledged by its replicas), so that the publisher's
	// acknowledgement follows. ErrUnavailable: the broker cannot take it
	// now (its engine is unreachable); nothing was published.
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
	// Run hands deliver, until ctx ends, every message any node published
	// (this node's included), each with its position set, in position
	// order. A broker that delivers inside Publish (the local one) returns
	// at once.
	Run(ctx context.Context, deliver func(*message.Message)) error
	// Replay reads at most limit stored messages matching filters with a
	// position in (after, upTo], in order: a resume older than the memory
	// windows. last is the position read up to; done, that none are left.
	Replay(ctx context.Context, filters []string, after, upTo uint64, limit int) (msgs []*message.Message, last uint64, done bool, err error)
	// Retained returns the retained messages (every topic's), for a hub
	// that starts.
	Retained(ctx context.Context) ([]*message.Message, error)
	// SeqAtTime and LastN place a start by time (`from=TIME`) or count
	// (`last=N`) that reaches back past the memory windows, among the
	// stored messages at or before upTo (where the windows take over), so
	// that Replay reads them. SeqAtTime is the position just before the
	// first stored message published at or after t; upTo when none is
	// (or filters match no stored topic).
	SeqAtTime(ctx context.Context, filters []string, t time.Time, upTo uint64) (uint64, error)
	// LastN is the position just before the n-th last stored message
	// matching filters; when fewer match, the position before all of
	// them (0) and how many did.
	LastN(ctx context.Context, filters []string, n int, upTo uint64) (after uint64, found int, err error)
}

// GapReporter is a Broker whose retention removes stored messages (the
// embedded broker's store answers through Store.Gap instead). Gap reports
// whether it removed some after position after that filters could match:
// the resume then answers a gap and replays what is held. It may do I/O,
// so the hub asks before taking Hub.mu.
type GapReporter interface {
	Gap(ctx context.Context, filters []string, after uint64) (bool, error)
}

// NameChecker is a Broker whose engine cannot carry every valid topic
// name or filter (NATS closes a connection sending a subject longer than
// its protocol line). The hub refuses what it refuses before anything
// reaches the engine: its errors wrap topic.ErrSubjectTooLong, which every
// protocol answers as an invalid topic.
type NameChecker interface {
	CheckName(name string) error
	CheckFilter(filter string) error
}

// DurableReporter is a Broker that stores some topics only (the embedded
// broker's store answers through Store.Durable instead).
type DurableReporter interface {
	Durable(name string) bool
}

// AsyncPublisher is a Broker whose publisher need not wait for the
// engine: PublishAsync tells done what Publish would have returned, once
// it is known, for all publishes in the order they were made, without
// blocking the caller on the engine (Hub.PublishAsync's contract).
type AsyncPublisher interface {
	PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error))
}

// ErrUnavailable is returned by Publish when the broker cannot take
// messages now; each protocol answers with its "server unavailable".
var ErrUnavailable = errors.New("broker unavailable")
