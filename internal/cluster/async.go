package cluster

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// asyncWindow bounds the publishes waiting for their JetStream
// acknowledgement across the node; a publisher past it waits to enqueue,
// which stops its connection reading, as a full receive window does.
const asyncWindow = 1 << 14

// pendingPublish is a publish whose publisher is told in publish order:
// either when its acknowledgement arrives (ack) or, decided at once
// (non-durable, retained, refused), as soon as those before it were told.
type pendingPublish struct {
	m      *message.Message
	ack    jetstream.PubAckFuture
	cursor message.Cursor
	err    error
	done   func(message.Cursor, error)
}

// PublishAsync is Publish for a publisher that reads on while its message
// is stored (an MQTT connection with QoS 1/2 publishes in flight): a
// durable message goes out with js.PublishAsync, so a connection waits for
// one JetStream round trip per window of publishes instead of per message.
// done gets what Publish would have returned, on the node's one telling
// goroutine, for all publishes in the order they were made (hub's
// PublishAsync contract). Retained and non-durable messages take Publish's
// path and wait their turn to be told.
func (b *JetStream) PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error)) {
	p := pendingPublish{m: m, done: done}
	l := b.link()
	if m.Retain || !b.Durable(m.Topic) || !l.nc.IsConnected() {
		p.cursor, p.err = b.Publish(ctx, m)
	} else if rec, err := l.record(m); err != nil {
		p.err = err
	} else if fut, err := l.js.PublishAsync(topic.Subject(b.cfg.Prefix+".m", m.Topic), rec); err != nil {
		p.err = unavailable("publish", err)
	} else {
		p.ack = fut
	}
	select {
	case <-b.closed: // checked first: a publish after Close is not queued behind the last telling
		done(message.Cursor{}, fmt.Errorf("cluster: closed: %w", hub.ErrUnavailable))
		return
	default:
	}
	select {
	case b.pending <- p:
	case <-b.closed:
		done(message.Cursor{}, fmt.Errorf("cluster: closed: %w", hub.ErrUnavailable))
	}
}

// tellPublishers runs until Close, telling each pending publish's
// publisher in order once its outcome is known; at Close, those still
// pending are told too (unavailable, unless acknowledged already), so
// that every publisher hears exactly once (TestEngineConformance, "stop
// tells every publisher").
func (b *JetStream) tellPublishers() {
	for {
		select {
		case p := <-b.pending:
			b.tell(p)
		case <-b.closed:
			for {
				select {
				case p := <-b.pending:
					b.tell(p)
				default:
					return
				}
			}
		}
	}
}

// tell waits for p's outcome and tells its publisher. A future always
// ends: JetStream's async publish timeout (cfg.Timeout) fails it.
func (b *JetStream) tell(p pendingPublish) {
	if p.ack == nil {
		p.done(p.cursor, p.err)
		return
	}
	select {
	case ack := <-p.ack.Ok():
		p.m.Seq, p.m.Epoch = durablePosition(ack.Sequence), b.epoch
		p.done(p.m.Cursor(), nil)
	case err := <-p.ack.Err():
		p.done(message.Cursor{}, unavailable("publish", err))
	case <-b.closed:
		p.done(message.Cursor{}, fmt.Errorf("cluster: closed: %w", hub.ErrUnavailable))
	}
}
