// Package cluster is the hub.Broker on NATS JetStream: several streamhub
// nodes share one topic namespace through a NATS cluster (docs/CLUSTER.md).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/store"
	"streamhub/internal/core/topic"
)

// Config connects a node to NATS.
type Config struct {
	URLs []string
	Node string
	// Replicas of each JetStream stream (1 on a single NATS server).
	Replicas int
	// Prefix of every subject and stream name this cluster uses.
	Prefix string
	// Timeout bounds each JetStream request (publish, stream lookups).
	Timeout time.Duration
	// Creds is a NATS credentials file; CA the NATS servers' TLS CA.
	Creds, CA string
}

// JetStream carries every message through one JetStream stream, whose
// sequence is every node's cursor, and keeps retained messages in a
// second stream holding the last message per subject.
type JetStream struct {
	cfg      Config
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	messages jetstream.Stream
	retained jetstream.Stream
	epoch    string
	// startSeq is where Run starts: the stream's end when the node
	// joined, so that nothing published after Retained was read is missed.
	startSeq uint64
}

var _ hub.Broker = (*JetStream)(nil)

// Open connects to NATS and creates (or joins) the cluster's streams.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*JetStream, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "streamhub"
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	opts := []nats.Option{nats.Name("streamhub " + cfg.Node), nats.MaxReconnects(-1)}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.CA != "" {
		opts = append(opts, nats.RootCAs(cfg.CA))
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %v: %w", cfg.URLs, err)
	}
	b := &JetStream{cfg: cfg, log: log, nc: nc}
	if err := b.join(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

func (b *JetStream) join(ctx context.Context) error {
	js, err := jetstream.New(b.nc, jetstream.WithDefaultTimeout(b.cfg.Timeout))
	if err != nil {
		return fmt.Errorf("cluster: jetstream: %w", err)
	}
	b.js = js
	name := strings.ToUpper(b.cfg.Prefix)
	b.messages, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{b.cfg.Prefix + ".m.>"}, Storage: jetstream.FileStorage, Replicas: b.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	b.retained, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name + "_RETAINED", Subjects: []string{b.cfg.Prefix + ".r.>"}, Storage: jetstream.FileStorage,
		Replicas: b.cfg.Replicas, MaxMsgsPerSubject: 1,
	})
	if err != nil {
		return fmt.Errorf("cluster: stream %s_RETAINED: %w", name, err)
	}
	info, err := b.messages.Info(ctx)
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	// The stream's creation names the position space: the same on every
	// node, new if the stream is ever deleted (which clients see as a gap).
	b.epoch = "js" + strconv.FormatInt(info.Created.UnixNano(), 36)
	b.startSeq = info.State.LastSeq + 1
	return nil
}

// Close disconnects from NATS.
func (b *JetStream) Close() { b.nc.Close() }

// Connected reports whether NATS is reachable now (readiness).
func (b *JetStream) Connected() bool { return b.nc.IsConnected() }

// Epoch names the cluster's position space.
func (b *JetStream) Epoch() string { return b.epoch }

// Head is the stream's last sequence when this node joined.
func (b *JetStream) Head() uint64 { return b.startSeq - 1 }

// Publish stores m in JetStream and returns once JetStream acknowledged
// it, with its stream sequence as position; a retained message first
// replaces its topic's retained record.
func (b *JetStream) Publish(ctx context.Context, m *message.Message) (message.Cursor, error) {
	if !b.nc.IsConnected() {
		return message.Cursor{}, fmt.Errorf("cluster: nats not connected: %w", hub.ErrUnavailable)
	}
	rec := store.EncodeMessage(nil, m)
	if m.Retain {
		if _, err := b.js.Publish(ctx, topic.Subject(b.cfg.Prefix+".r", m.Topic), rec); err != nil {
			return message.Cursor{}, unavailable("retained", err)
		}
	}
	ack, err := b.js.Publish(ctx, topic.Subject(b.cfg.Prefix+".m", m.Topic), rec)
	if err != nil {
		return message.Cursor{}, unavailable("publish", err)
	}
	m.Seq, m.Epoch = ack.Sequence, b.epoch
	return m.Cursor(), nil
}

// unavailable marks the errors that mean "NATS cannot take it now".
func unavailable(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, jetstream.ErrNoStreamResponse) {
		return fmt.Errorf("cluster: %s: %w: %w", what, hub.ErrUnavailable, err)
	}
	return fmt.Errorf("cluster: %s: %w", what, err)
}

// Run delivers every message stored from the node's start on, in stream
// order, until ctx ends. An ordered consumer recreates itself after a
// reconnect, from where it stopped.
func (b *JetStream) Run(ctx context.Context, deliver func(*message.Message)) error {
	cons, err := b.messages.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: b.startSeq,
	})
	if err != nil {
		return fmt.Errorf("cluster: consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("cluster: consume: %w", err)
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("cluster: next message: %w", err)
		}
		m, err := b.decode(msg)
		if err != nil {
			b.log.Error("cluster: undecodable message skipped", "subject", msg.Subject(), "err", err)
			continue
		}
		deliver(m)
	}
}

func (b *JetStream) decode(msg jetstream.Msg) (*message.Message, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	m, err := store.DecodeMessage(msg.Data(), b.epoch)
	if err != nil {
		return nil, err
	}
	m.Seq = meta.Sequence.Stream
	return m, nil
}

// Replay reads stored messages in (after, upTo] matching filters. It reads
// the whole stream from after on and filters here: a consumer's subject
// filters must not overlap, which a subscription's may.
func (b *JetStream) Replay(ctx context.Context, filters []string, after, upTo uint64, limit int) ([]*message.Message, uint64, bool, error) {
	if after >= upTo {
		return nil, upTo, true, nil
	}
	cons, err := b.messages.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1,
	})
	if err != nil {
		return nil, after, false, fmt.Errorf("cluster: replay consumer: %w", err)
	}
	batch, err := cons.Fetch(limit, jetstream.FetchMaxWait(b.cfg.Timeout))
	if err != nil {
		return nil, after, false, fmt.Errorf("cluster: replay: %w", err)
	}
	var out []*message.Message
	last, n := after, 0
	for msg := range batch.Messages() {
		m, err := b.decode(msg)
		if err != nil || m.Seq > upTo {
			continue
		}
		n++
		last = m.Seq
		if topic.MatchAny(filters, m.Topic) {
			out = append(out, m)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return nil, after, false, fmt.Errorf("cluster: replay: %w", err)
	}
	return out, last, n < limit || last >= upTo, nil
}

// Retained reads the last retained record of every topic.
func (b *JetStream) Retained(ctx context.Context) ([]*message.Message, error) {
	info, err := b.retained.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: retained stream: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cons, err := b.retained.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
	if err != nil {
		return nil, fmt.Errorf("cluster: retained consumer: %w", err)
	}
	var out []*message.Message
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(b.cfg.Timeout))
		if err != nil {
			return nil, fmt.Errorf("cluster: read retained: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("cluster: read retained: %w", err)
		}
		if m, err := store.DecodeMessage(msg.Data(), b.epoch); err == nil && len(m.Payload) > 0 {
			m.Seq = 0 // a retained record's position is in the other stream
			out = append(out, m)
		}
		if meta.NumPending == 0 {
			return out, nil
		}
	}
}
