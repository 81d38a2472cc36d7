// Package cluster is the engine (engine.Engine) on NATS JetStream: several streamhub
// nodes share one topic namespace through a NATS cluster (docs/CLUSTER.md).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/core/engine"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/store"
	"streamhub/internal/core/topic"
)

// Config connects a node to NATS.
type Config struct {
	URLs []string
	Node string
	// Replicas of each JetStream stream and of the MQTT session bucket;
	// 0: automatic (autoReplicas).
	Replicas int
	// Prefix of every subject and stream name this cluster uses.
	Prefix string
	// Timeout bounds each JetStream request (publish, stream lookups).
	Timeout time.Duration
	// Creds is a NATS credentials file; CA the NATS servers' TLS CA.
	Creds, CA string
	// Durable filters name the topics stored in JetStream; the others ride
	// core NATS subjects, at most once. None: every topic is durable.
	Durable []string
	// Limits bound what the message stream keeps (Strictest of the
	// durable streams' retention).
	Limits Limits
}

// JetStream carries durable topics through one JetStream stream, whose
// sequence makes every node's cursor, non-durable topics over core NATS
// subjects, and keeps retained messages in a second stream holding the
// last message per subject.
//
// Positions: a durable message's is its stream sequence shifted left by
// localBits, the same on every node; a non-durable message gets, on each
// node, the last durable position that node delivered plus a local count
// (positions.go).
type JetStream struct {
	cfg Config
	log *slog.Logger
	cur atomic.Pointer[link] // the NATS connection in use (link.go)
	// followers are the core NATS subscriptions made again on each link
	// (follow); followMu orders them against a redial's move.
	followMu  sync.Mutex
	followers map[*follower]struct{}
	epoch     string
	// startSeq is where run starts: the stream's end when the node
	// joined, so that nothing published after Retained was read is missed.
	startSeq uint64
	// deliverMu orders delivery from the stream and from core NATS: taken
	// before Hub.mu (deliver), never inside it.
	deliverMu sync.Mutex
	pos       positions
	// pending holds async publishes in publish order until their
	// publishers are told (async.go); closed ends that at Close.
	pending   chan pendingPublish
	closed    chan struct{}
	closeOnce sync.Once
	// stopRun ends the delivery Start began; runDone is closed when it has.
	stopRun context.CancelFunc
	runDone chan struct{}
}

var _ engine.Engine = (*JetStream)(nil)

// Open connects to NATS and creates (or joins) the cluster's streams.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*JetStream, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "streamhub"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	b := &JetStream{cfg: cfg, log: log, pending: make(chan pendingPublish, asyncWindow), closed: make(chan struct{})}
	l, err := b.dial()
	if err != nil {
		return nil, err
	}
	if err := checkServerVersion(l.nc.ConnectedServerVersion()); err != nil {
		l.nc.Close()
		return nil, err
	}
	if b.cfg.Replicas <= 0 {
		b.cfg.Replicas = autoReplicas(l.nc)
		log.Info("cluster: stream replicas chosen from the NATS servers known", "replicas", b.cfg.Replicas, "servers", len(l.nc.Servers()))
	}
	if err := b.whenReady(ctx, func() error { return b.join(ctx, l) }); err != nil {
		l.nc.Close()
		return nil, err
	}
	b.cur.Store(l)
	go b.tellPublishers()
	return b, nil
}

// joinWait bounds how long a starting node waits for JetStream to
// answer (its streams, then its buckets), joinRetry apart: NATS servers
// started at the same moment (a machine booting, docs/CLUSTER.md's
// commands) elect a leader first, and a busy cluster may take longer than
// a timeout to make a replicated bucket.
const (
	joinWait  = 30 * time.Second
	joinRetry = time.Second
)

// whenReady runs f (the streams' or a bucket's creation), trying again
// while JetStream cannot answer yet.
func (b *JetStream) whenReady(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(joinWait)
	for {
		err := f()
		if err == nil || !notReady(err) || time.Now().After(deadline) {
			return err
		}
		b.log.Warn("cluster: JetStream not ready; trying again", "err", err, "in", joinRetry)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(joinRetry):
		}
	}
}

// notReady reports whether err is JetStream not answering yet: no answer
// in time, nobody listening, or a "temporarily unavailable" (503) other
// than JetStream not being enabled at all.
func notReady(err error) bool {
	var js jetstream.JetStreamError
	if errors.As(err, &js) && js.APIError() != nil {
		api := js.APIError()
		return api.Code == 503 && api.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabled &&
			api.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabledForAccount
	}
	return errors.Is(unavailable("join", err), hub.ErrUnavailable)
}

// join creates (or updates) the cluster's streams through l and takes
// the position space from the message stream.
func (b *JetStream) join(ctx context.Context, l *link) (err error) {
	name := strings.ToUpper(b.cfg.Prefix)
	l.messages, err = l.js.CreateOrUpdateStream(ctx, b.applyLimits(jetstream.StreamConfig{
		Name: name, Subjects: []string{b.cfg.Prefix + ".m.>", b.tickSubject()}, Storage: jetstream.FileStorage, Replicas: b.cfg.Replicas,
	}))
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	l.retained, err = l.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name + "_RETAINED", Subjects: []string{b.cfg.Prefix + ".r.>"}, Storage: jetstream.FileStorage,
		Replicas: b.cfg.Replicas, MaxMsgsPerSubject: 1,
	})
	if err != nil {
		return fmt.Errorf("cluster: stream %s_RETAINED: %w", name, err)
	}
	info, err := l.messages.Info(ctx)
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	// The stream's creation names the position space: the same on every
	// node, new if the stream is ever deleted (which clients see as a gap).
	// "jp": positions are stream sequences shifted by localBits (stage 1's
	// "js" cursors were plain sequences, and now resume as a gap).
	b.epoch = "jp" + strconv.FormatInt(info.Created.UnixNano(), 36)
	b.startSeq = info.State.LastSeq + 1
	b.pos.base = durablePosition(info.State.LastSeq)
	return nil
}

// autoReplicas is 3 when the NATS servers the client knows (configured,
// and announced by the cluster it joined) are 3 or more, else 1: the
// replication a JetStream cluster of three can give, and none on a single
// server, which would refuse more. A stream created with 1 before the
// cluster announced its servers is raised to 3 by the next node that
// starts (CreateOrUpdateStream).
func autoReplicas(nc *nats.Conn) int {
	if len(nc.Servers()) >= 3 {
		return 3
	}
	return 1
}

// Replicas is how many replicas the node's streams were given.
func (b *JetStream) Replicas() int { return b.cfg.Replicas }

// Close disconnects from NATS; publishes still waiting for their
// acknowledgement are told the broker is unavailable.
func (b *JetStream) Close() {
	b.closeOnce.Do(func() { close(b.closed) })
	b.link().nc.Close()
}

// Connected reports whether NATS is reachable now (readiness).
func (b *JetStream) Connected() bool { return b.link().nc.IsConnected() }

// Status is this node's view of NATS, for /metrics and $SYS.
type Status struct {
	Node      string
	Connected bool
	Server    string   // the NATS server connected to ("" when not)
	Peers     []string // the NATS servers known: configured and discovered
}

// Status reports the node's name and NATS connection now.
func (b *JetStream) Status() Status {
	nc := b.link().nc
	st := Status{Node: b.cfg.Node, Connected: nc.IsConnected(), Peers: nc.Servers()}
	if st.Connected {
		st.Server = nc.ConnectedUrlRedacted()
	}
	return st
}

// Epoch names the cluster's position space.
func (b *JetStream) Epoch() string { return b.epoch }

// Head is the position of the stream's last message when this node joined.
func (b *JetStream) Head() uint64 { return durablePosition(b.startSeq - 1) }

// Durable reports whether topic name is stored in JetStream.
func (b *JetStream) Durable(name string) bool {
	return len(b.cfg.Durable) == 0 || topic.MatchAny(b.cfg.Durable, name)
}

// Publish stores a durable m in JetStream and returns once JetStream
// acknowledged it, with its position; a non-durable m goes out on a core
// NATS subject (at most once) and the cursor returned is this node's
// current position, since m gets its own on each node as it arrives. A
// retained message first replaces its topic's retained record.
func (b *JetStream) Publish(ctx context.Context, m *message.Message) (message.Cursor, error) {
	l := b.link()
	if !l.nc.IsConnected() {
		return message.Cursor{}, fmt.Errorf("cluster: nats not connected: %w", hub.ErrUnavailable)
	}
	rec, err := l.record(m)
	if err != nil {
		return message.Cursor{}, err
	}
	if m.Retain {
		if _, err := l.js.Publish(ctx, topic.Subject(b.cfg.Prefix+".r", m.Topic), rec); err != nil {
			return message.Cursor{}, unavailable("retained", err)
		}
	}
	if !b.Durable(m.Topic) {
		if err := l.nc.Publish(topic.Subject(b.cfg.Prefix+".n", m.Topic), rec); err != nil {
			return message.Cursor{}, unavailable("publish", err)
		}
		return message.Cursor{Epoch: b.epoch, Seq: b.current()}, nil
	}
	ack, err := l.js.Publish(ctx, topic.Subject(b.cfg.Prefix+".m", m.Topic), rec)
	if err != nil {
		return message.Cursor{}, unavailable("publish", err)
	}
	m.Seq, m.Epoch = durablePosition(ack.Sequence), b.epoch
	return m.Cursor(), nil
}

// record encodes m for NATS, refusing what the server's max_payload
// (1 MiB by default) would refuse with ErrTooLarge, which every protocol
// answers as a message too large, before anything is sent.
func (l *link) record(m *message.Message) ([]byte, error) {
	rec := store.EncodeMessage(nil, m)
	if limit := l.nc.MaxPayload(); limit > 0 && int64(len(rec)) > limit {
		return nil, fmt.Errorf("cluster: %w: %d bytes with its topic and properties, NATS's max_payload is %d",
			hub.ErrTooLarge, len(rec), limit)
	}
	return rec, nil
}

// current is the last position this node delivered.
func (b *JetStream) current() uint64 {
	b.deliverMu.Lock()
	defer b.deliverMu.Unlock()
	return b.pos.last()
}

// unavailable marks the errors that mean "NATS cannot take it now".
func unavailable(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		return fmt.Errorf("cluster: %s: %w: %w", what, hub.ErrUnavailable, err)
	}
	return fmt.Errorf("cluster: %s: %w", what, err)
}

// Start delivers to sink, on a goroutine of its own until Stop, every
// message published from the node's start on (run).
func (b *JetStream) Start(sink engine.Sink) error {
	ctx, cancel := context.WithCancel(context.Background())
	b.stopRun, b.runDone = cancel, make(chan struct{})
	go func() {
		defer close(b.runDone)
		if err := b.run(ctx, sink.Deliver); err != nil && ctx.Err() == nil {
			b.log.Error("cluster: stopped delivering", "err", err)
		}
	}()
	return nil
}

// Stop ends the delivery Start began and waits for it.
func (b *JetStream) Stop() {
	if b.stopRun == nil {
		return
	}
	b.stopRun()
	<-b.runDone
}

// Stats is the last position this node delivered (the stream's and its
// own in between) and the asynchronous publishes awaiting their
// acknowledgement.
func (b *JetStream) Stats() engine.Stats {
	return engine.Stats{Position: b.current(), Pending: len(b.pending)}
}

// run delivers every message published from the node's start on until
// ctx ends: the stream's in stream order (an ordered consumer recreates
// itself after a reconnect, from where it stopped; a new one follows a
// redialled link, or one that failed), and what arrives on the core NATS
// subjects in between, as it arrives.
func (b *JetStream) run(ctx context.Context, deliver func(*message.Message)) error {
	stop, err := b.follow(func(nc *nats.Conn) (func(), error) {
		sub, err := nc.Subscribe(b.cfg.Prefix+".n.>", func(msg *nats.Msg) { b.deliverNonDurable(msg.Data, deliver) })
		if err != nil {
			return nil, fmt.Errorf("cluster: subscribe: %w", err)
		}
		return func() { _ = sub.Unsubscribe() }, nil
	})
	if err != nil {
		return err
	}
	defer stop()
	for {
		l := b.link()
		if err := b.consume(ctx, l, deliver); err != nil && ctx.Err() == nil {
			b.log.Warn("cluster: stream consumer ended; starting another", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.lost:
			select { // the next link
			case <-ctx.Done():
				return nil
			case <-l.next:
			}
		case <-time.After(b.cfg.Timeout):
		}
	}
}

// consume delivers the stream's messages after the last delivered,
// through l, until ctx ends, l is lost or the consumer fails.
func (b *JetStream) consume(ctx context.Context, l *link, deliver func(*message.Message)) error {
	cons, err := l.messages.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: streamSeq(b.current()) + 1,
	})
	if err != nil {
		return fmt.Errorf("cluster: consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("cluster: consume: %w", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-l.lost:
		case <-done:
		}
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
		b.deliverDurable(msg, deliver)
	}
}

// deliverDurable hands on a message of the stream (a tick only moves the
// positions on).
func (b *JetStream) deliverDurable(msg jetstream.Msg, deliver func(*message.Message)) {
	meta, err := msg.Metadata()
	if err != nil {
		b.log.Error("cluster: message without metadata skipped", "subject", msg.Subject(), "err", err)
		return
	}
	b.deliverMu.Lock()
	defer b.deliverMu.Unlock()
	b.pos.durable(meta.Sequence.Stream)
	if msg.Subject() == b.tickSubject() {
		return
	}
	m, err := b.decode(msg)
	if err != nil {
		b.log.Error("cluster: undecodable message skipped", "subject", msg.Subject(), "err", err)
		return
	}
	deliver(m)
}

// deliverNonDurable hands on a message of a core NATS subject with this
// node's next local position.
func (b *JetStream) deliverNonDurable(data []byte, deliver func(*message.Message)) {
	m, err := store.DecodeMessage(data, b.epoch)
	if err != nil {
		b.log.Error("cluster: undecodable message skipped", "err", err)
		return
	}
	b.deliverMu.Lock()
	defer b.deliverMu.Unlock()
	seq, ok, tick := b.pos.next()
	if tick {
		go b.tick()
	}
	if !ok {
		b.log.Error("cluster: no local position left before the next durable message; message dropped", "topic", m.Topic)
		return
	}
	m.Seq = seq
	deliver(m)
}

func (b *JetStream) tickSubject() string { return b.cfg.Prefix + ".t" }

// tick stores an empty message in the stream so that the non-durable
// positions of every node move on to a new durable position.
func (b *JetStream) tick() {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancel()
	if _, err := b.link().js.Publish(ctx, b.tickSubject(), nil); err != nil {
		b.log.Warn("cluster: tick not stored", "err", err)
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
	m.Seq = durablePosition(meta.Sequence.Stream)
	return m, nil
}

// Replay reads stored messages in (after, upTo] matching filters. It reads
// the whole stream from after on and filters here: a consumer's subject
// filters must not overlap, which a subscription's may. Non-durable
// messages are not stored: only the durable positions in (after, upTo]
// are read; what retention removed is skipped (Gap told the client). The
// catch-up is done only once the stream was read up to
// upTo: a fetch that brings fewer messages (a consumer slow to start on a
// NATS cluster that just lost a server) is not the stream's end.
func (b *JetStream) Replay(ctx context.Context, filters []string, after, upTo uint64, limit int) ([]*message.Message, uint64, bool, error) {
	if streamSeq(after) >= streamSeq(upTo) {
		return nil, upTo, true, nil
	}
	// Retention may have removed all of (after, upTo]: then no fetch
	// would ever bring a message of it.
	messages := b.link().messages
	info, err := messages.Info(ctx)
	if err != nil {
		return nil, after, false, unavailable("replay: stream info", err)
	}
	if info.State.FirstSeq > streamSeq(upTo) {
		return nil, upTo, true, nil
	}
	// A fetch returns when its batch is full or its wait is over: asking
	// for no more than the stream holds up to upTo ends a short catch-up
	// at once instead of after the whole wait.
	from := streamSeq(after)
	if info.State.FirstSeq > 0 {
		from = max(from, info.State.FirstSeq-1)
	}
	batch := int(min(uint64(limit), streamSeq(upTo)-from))
	cons, err := messages.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: streamSeq(after) + 1,
	})
	if err != nil {
		return nil, after, false, unavailable("replay consumer", err)
	}
	for range replayAttempts {
		out, last, n, err := b.fetchPage(cons, filters, after, upTo, batch)
		switch {
		case err != nil:
			return nil, after, false, err
		case streamSeq(last) >= streamSeq(upTo) || n < 0:
			return out, upTo, true, nil
		case n > 0:
			return out, last, false, nil
		}
	}
	return nil, after, false, fmt.Errorf("cluster: replay after %d: nothing read from the stream: %w", streamSeq(after), hub.ErrUnavailable)
}

// replayAttempts is how many empty fetches Replay tolerates in a row.
const replayAttempts = 3

// fetchPage reads at most limit messages from cons; n is how many were at
// or before upTo, -1 if one was past it (the page ends the catch-up).
func (b *JetStream) fetchPage(cons jetstream.Consumer, filters []string, after, upTo uint64, limit int) (out []*message.Message, last uint64, n int, err error) {
	batch, err := cons.Fetch(limit, jetstream.FetchMaxWait(b.cfg.Timeout))
	if err != nil {
		return nil, after, 0, replayError(err)
	}
	last, past := after, false
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			continue
		}
		if durablePosition(meta.Sequence.Stream) > upTo {
			past = true
			continue
		}
		n++
		last = durablePosition(meta.Sequence.Stream)
		if m, err := b.decode(msg); err == nil && msg.Subject() != b.tickSubject() && topic.MatchAny(filters, m.Topic) {
			out = append(out, m)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return nil, after, 0, replayError(err)
	}
	if past {
		n = -1
	}
	return out, last, n, nil
}

// replayError marks what a replay's fetch can meet while NATS recovers
// from a lost server: beside unavailable's errors, losing the ordered
// consumer, which the next Replay makes anew.
func replayError(err error) error {
	if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("cluster: replay: %w: %w", hub.ErrUnavailable, err)
	}
	return unavailable("replay", err)
}

// Retained reads the last retained record of every topic. A stream with
// replicas that was just created may have no leader yet to answer a
// consumer's creation (no responders): such a read is tried again for a
// few timeouts, so that a node joining a new cluster does not fail.
func (b *JetStream) Retained(ctx context.Context) ([]*message.Message, error) {
	deadline := time.Now().Add(retainedAttempts * b.cfg.Timeout)
	for {
		out, err := b.readRetained(ctx)
		if err == nil || !errors.Is(err, hub.ErrUnavailable) || time.Now().After(deadline) {
			return out, err
		}
		b.log.Warn("cluster: retained messages not readable yet; trying again", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retainedRetry):
		}
	}
}

// retainedAttempts timeouts bound Retained's tries, retainedRetry apart.
const (
	retainedAttempts = 3
	retainedRetry    = 200 * time.Millisecond
)

func (b *JetStream) readRetained(ctx context.Context) ([]*message.Message, error) {
	retained := b.link().retained
	info, err := retained.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: retained stream: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	// One filter subject, sent as FilterSubject: NATS 2.9 refuses "last
	// per subject" without it (error 10094) and knows no FilterSubjects.
	cons, err := retained.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, FilterSubjects: []string{b.cfg.Prefix + ".r.>"},
	})
	if err != nil {
		return nil, unavailable("retained consumer", err)
	}
	var out []*message.Message
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(b.cfg.Timeout))
		if err != nil {
			return nil, unavailable("read retained", err)
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

// StoredMessages is how many messages the stream holds now (tests, $SYS).
func (b *JetStream) StoredMessages(ctx context.Context) uint64 {
	info, err := b.link().messages.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}
