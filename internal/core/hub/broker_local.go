package hub

import (
	"context"
	"time"

	"streamhub/internal/core/message"
)

// localBroker is the single-node broker: the hub's own sequence under
// Hub.mu, the pebble store (if any) for durable and retained messages,
// and delivery inside Publish, so that a publish returns once its message
// is stored and queued for every subscriber.
type localBroker struct{ h *Hub }

var _ Broker = localBroker{}

func (b localBroker) Epoch() string { return b.h.epoch }

// Head is the hub's own sequence: everything is delivered inside Publish.
func (b localBroker) Head() uint64 {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	return b.h.seq
}

func (b localBroker) Publish(_ context.Context, m *message.Message) (message.Cursor, error) {
	if err := b.h.deliverLocal(m); err != nil {
		return message.Cursor{}, err
	}
	return m.Cursor(), nil
}

// Run returns at once: Publish delivers.
func (localBroker) Run(context.Context, func(*message.Message)) error { return nil }

func (b localBroker) Replay(_ context.Context, filters []string, after, upTo uint64, limit int) ([]*message.Message, uint64, bool, error) {
	if b.h.store == nil {
		return nil, upTo, true, nil
	}
	return b.h.store.Replay(filters, after, upTo, limit)
}

func (b localBroker) Retained(context.Context) ([]*message.Message, error) {
	if b.h.store == nil {
		return nil, nil
	}
	return b.h.store.Retained()
}

// SeqAtTime and LastN look in the store. Without one, nothing is kept
// past the memory windows, which do not reach back far enough: the start
// is before everything (0), so that the resume answers a gap if the
// windows lost messages, as a store's does when retention removed some.
func (b localBroker) SeqAtTime(_ context.Context, _ []string, t time.Time, upTo uint64) (uint64, error) {
	if b.h.store == nil {
		return 0, nil
	}
	return b.h.store.SeqAtTime(t, upTo)
}

func (b localBroker) LastN(_ context.Context, filters []string, n int, upTo uint64) (uint64, int, error) {
	if b.h.store == nil {
		return 0, 0, nil
	}
	return b.h.store.LastN(filters, n, upTo)
}
