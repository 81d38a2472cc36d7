// Package engine is the contract between the hub and what carries and
// keeps its messages: positions (cursors), stored history, retained
// messages, durability per topic, and the carrying of each message to
// every node sharing the topic namespace. The hub keeps the local side on
// every node (the subscription index, the memory windows, the bounded
// subscriber queues) and never asks which engine it has: every engine
// implements the whole interface, one that lacks a capability answers it
// trivially (nothing stored: no replay, every name fits).
//
// Implementations: internal/core/engine/local (this process's sequence,
// in memory or on the pebble store) and internal/cluster (NATS
// JetStream). docs/ARCHITECTURE.md, "The engine seam";
// internal/core/hub/conformance holds every engine to one table.
package engine

import (
	"context"
	"errors"
	"time"

	"streamhub/internal/core/message"
)

// Engine is what the hub publishes into and is delivered from.
type Engine interface {
	// Epoch names the position space: a cursor of this epoch means the
	// same message wherever the engine is shared.
	Epoch() string
	// Head is the position of the last message published before Start:
	// delivery begins after it, and older messages are only in the engine
	// (Replay).
	Head() uint64
	// Retained returns the retained messages (every topic's) held when
	// the hub starts.
	Retained(ctx context.Context) ([]*message.Message, error)
	// Start begins delivery: until Stop, every message any publisher
	// hands the engine (on any node) reaches sink, once, with its position
	// set, in position order. It is called once, before any publish.
	Start(sink Sink) error
	// Stop ends delivery and waits until the engine no longer calls the
	// sink; publishes it already took are settled (a local engine commits
	// what it staged). The engine's own resources (a store, a NATS
	// connection) stay open for whoever opened them to close.
	Stop()

	// Publish takes m and returns its position once the engine holds it
	// as its topic requires (a durable topic: stored, and on a cluster
	// acknowledged by its replicas), so that the publisher's
	// acknowledgement follows the store. ErrUnavailable: the engine cannot
	// take it now; nothing was published.
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
	// PublishAsync is Publish for a publisher that reads on meanwhile:
	// done gets what Publish would have returned, once it is known, with
	// no hub lock held, exactly once, for the publishes of one goroutine
	// in the order they were made; the caller never waits for the store.
	// done must not block.
	PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error))

	// Place answers a start older than the hub's memory windows, which
	// hold every matching message after upTo: where it begins among the
	// messages the engine keeps up to upTo, whether some it asks for are
	// gone, and whether the engine replays them. It may do I/O: the hub
	// asks with no lock held.
	Place(ctx context.Context, filters []string, from From, upTo uint64) (Placed, error)
	// Replay reads at most limit kept messages matching filters with a
	// position in (after, upTo], in order. last is the position read up
	// to; done, that none are left. ErrUnavailable: try again later.
	Replay(ctx context.Context, filters []string, after, upTo uint64, limit int) (msgs []*message.Message, last uint64, done bool, err error)
	// Durable reports whether the engine stores topic name past the
	// memory windows.
	Durable(name string) bool
	// CheckName and CheckFilter refuse a valid topic name or filter the
	// engine cannot carry (NATS's protocol line), with errors wrapping
	// topic.ErrSubjectTooLong; nil when it can.
	CheckName(name string) error
	CheckFilter(filter string) error
	// Stats is a snapshot for /metrics and the admin API.
	Stats() Stats
}

// From is a start the hub asks an engine to place: Since when set, else
// the Last messages when positive, else after the position After.
type From struct {
	After uint64
	Since time.Time
	Last  int
}

// Placed is an engine's answer to a start.
type Placed struct {
	// After is the position the start replays after: From.After as
	// given; for Since, the position just before the first message kept
	// at or after it (upTo when none); for Last, just before the Last-th
	// last matching message kept (0 when fewer are kept).
	After uint64
	// Gap: messages after After that the filters could match are gone.
	Gap bool
	// Replay: the engine keeps the matching messages in (After, upTo]
	// for Replay to read, and the windows follow from upTo; false: it
	// keeps none the windows lost, and the windows are read from After.
	Replay bool
}

// PlaceUnkept is Place's answer where the engine keeps nothing the
// filters match past the memory windows, which do not reach back far
// enough: a time or count starts before everything (0), since when the
// lost messages were published is unknown; the windows are read from the
// start, and the start is a gap when they lost messages after it.
func PlaceUnkept(from From, upTo uint64) Placed {
	after := from.After
	if !from.Since.IsZero() || from.Last > 0 {
		after = 0
	}
	return Placed{After: after, Gap: after < upTo}
}

// Sink is the hub's side of the seam: where an engine delivers.
type Sink interface {
	// Deliver fans m out (its position set) after every message
	// delivered before it, taking the hub's lock itself.
	Deliver(m *message.Message)
	// Lock takes the lock Deliver takes, for an engine that numbers
	// messages on this node: numbering a message and delivering it
	// (DeliverLocked) under the one lock fan-out needs anyway keeps
	// positions and delivery in one order without a lock of its own.
	// ErrShutdown: the hub is closed and delivers no more (the lock is
	// held all the same). Unlock releases it and then calls what the
	// deliveries owe (subscribers' after-publish hooks).
	Lock() error
	Unlock()
	// DeliverLocked is Deliver for a caller holding Lock.
	DeliverLocked(m *message.Message)
}

// Stats is an engine's state as the admin API and /metrics show it.
type Stats struct {
	// Position is the last position the engine handed out.
	Position uint64
	// Pending is how many publishes wait for their store or
	// acknowledgement.
	Pending int
}

var (
	// ErrUnavailable is returned when the engine cannot take messages or
	// read history now; each protocol answers with its "server
	// unavailable".
	ErrUnavailable = errors.New("broker unavailable")
	// ErrShutdown is the hub closing: nothing more is published or
	// delivered.
	ErrShutdown = errors.New("server shutting down")
)
