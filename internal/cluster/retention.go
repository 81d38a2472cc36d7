package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/core/topic"
)

// Limits bound what the message stream keeps (durable.streams retention);
// zero is no bound of that kind.
type Limits struct {
	Messages int
	Bytes    int64
	Age      time.Duration
}

// Strictest is the limits of the one JetStream stream that holds every
// durable topic: the smallest bound of each kind any durable stream sets.
// JetStream bounds a stream as a whole (or each exact subject), never each
// subject filter, and positions need a single stream: so no durable
// stream keeps more than it asked for, and a busier one may shorten a
// quieter one's history (a resume then answers a gap).
func Strictest(all ...Limits) Limits {
	var out Limits
	for _, l := range all {
		out.Messages = smallestBound(out.Messages, l.Messages)
		out.Bytes = smallestBound(out.Bytes, l.Bytes)
		out.Age = smallestBound(out.Age, l.Age)
	}
	return out
}

// smallestBound is the smaller of two bounds where zero is none.
func smallestBound[T int | int64 | time.Duration](a, b T) T {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// minAge is the shortest MaxAge JetStream accepts.
const minAge = 100 * time.Millisecond

// applyLimits bounds the message stream's config by the node's limits
// (JetStream's zero, like ours, is no bound); the oldest messages go
// first (DiscardOld, JetStream's default).
func (b *JetStream) applyLimits(sc jetstream.StreamConfig) jetstream.StreamConfig {
	l := b.cfg.Limits
	if l.Messages > 0 {
		sc.MaxMsgs = int64(l.Messages)
	}
	if l.Bytes > 0 {
		sc.MaxBytes = l.Bytes
	}
	if l.Age > 0 {
		sc.MaxAge = max(l.Age, minAge)
	}
	sc.Discard = jetstream.DiscardOld
	return sc
}

// gap reports whether messages after position after that filters could
// match are gone: the hub asks only for a resume older than its memory
// windows, so a filter that may match a non-durable topic (never stored)
// lost them with the windows, as on a single node's store; else
// retention removed some if the stream's first message is past the one
// following the cursor. It asks JetStream (I/O): the hub calls Place
// without its locks.
func (b *JetStream) gap(ctx context.Context, filters []string, after uint64) (bool, error) {
	if !b.durableAll(filters) {
		return true, nil
	}
	info, err := b.link().messages.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("cluster: stream info: %w", err)
	}
	return info.State.FirstSeq > streamSeq(after)+1, nil
}

// durableAll reports whether every topic each of filters matches is durable.
func (b *JetStream) durableAll(filters []string) bool {
	if len(b.cfg.Durable) == 0 {
		return true
	}
	for _, f := range filters {
		if !slices.ContainsFunc(b.cfg.Durable, func(d string) bool { return topic.Covers(d, f) }) {
			return false
		}
	}
	return true
}

// durableAny reports whether any of filters may match a durable topic.
func (b *JetStream) durableAny(filters []string) bool {
	if len(b.cfg.Durable) == 0 {
		return true
	}
	for _, f := range filters {
		for _, d := range b.cfg.Durable {
			if topic.Overlap(d, f) {
				return true
			}
		}
	}
	return false
}
