package cluster

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/core/message"
	"streamhub/internal/core/sessions"
	"streamhub/internal/core/store"
	"streamhub/internal/core/topic"
)

// MQTT is what the MQTT broker shares between nodes (docs/CLUSTER.md,
// "MQTT across nodes"): session records in a JetStream KV bucket, the
// handover of a session from the node holding it, and the queue
// subscriptions that spread a $share group's messages over the cluster.
type MQTT struct {
	b      *JetStream
	bucket string
	kv     *boundBucket
}

// handoverWait bounds how long a node waits for the holder of a session to
// hand it over: a holder that died answers never (or NATS says at once
// that nobody listens).
const handoverWait = time.Second

// MQTT opens (or creates) the session bucket, <PREFIX>_MQTT_SESSIONS,
// with the cluster's replicas.
func (b *JetStream) MQTT(ctx context.Context) (*MQTT, error) {
	name := strings.ToUpper(b.cfg.Prefix) + "_MQTT_SESSIONS"
	kv, err := b.openBucket(ctx, jetstream.KeyValueConfig{
		Bucket: name, Storage: jetstream.FileStorage, Replicas: b.cfg.Replicas, History: 1,
	})
	if err != nil {
		return nil, err
	}
	return &MQTT{b: b, bucket: name, kv: kv}, nil
}

// bucketNow is the session bucket through the link in use.
func (m *MQTT) bucketNow(ctx context.Context) (jetstream.KeyValue, error) { return m.kv.now(ctx) }

// Node is this node's name, which holds sessions.
func (m *MQTT) Node() string { return m.b.cfg.Node }

// token escapes a session key or node name into one KV key and one subject
// token: both accept base64url's alphabet, and a client id may hold any
// character.
func token(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

var _ sessions.Store = (*MQTT)(nil)

// Load implements sessions.Store: the record of session key and its
// revision; nil and 0 when there is none.
func (m *MQTT) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := m.CheckKey(key); err != nil { // nothing too long reaches NATS
		return nil, 0, err
	}
	kv, err := m.bucketNow(ctx)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, token(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: load session: %w", err)
	}
	return e.Value(), e.Revision(), nil
}

// Save implements sessions.Store: Create for revision 0, else Update at
// that revision; sessions.ErrConflict when the record moved on (another
// node wrote it since).
func (m *MQTT) Save(ctx context.Context, key string, rec []byte, rev uint64) (uint64, error) {
	if err := m.CheckKey(key); err != nil { // nothing too long reaches NATS
		return 0, err
	}
	kv, err := m.bucketNow(ctx)
	if err != nil {
		return 0, err
	}
	var next uint64
	if rev == 0 {
		next, err = kv.Create(ctx, token(key), rec)
	} else {
		next, err = kv.Update(ctx, token(key), rec, rev)
	}
	switch {
	case err == nil:
		return next, nil
	case revisionConflict(err):
		return 0, sessions.ErrConflict
	}
	return 0, fmt.Errorf("cluster: save session: %w", err)
}

// Delete implements sessions.Store. The bucket keeps a delete marker,
// whose revision a later Create moves past.
func (m *MQTT) Delete(ctx context.Context, key string, rev uint64) error {
	if err := m.CheckKey(key); err != nil { // nothing too long reaches NATS
		return err
	}
	if rev == 0 {
		if _, cur, err := m.Load(ctx, key); err != nil || cur != 0 {
			return cmp.Or(err, sessions.ErrConflict)
		}
		return nil
	}
	kv, err := m.bucketNow(ctx)
	if err != nil {
		return err
	}
	err = kv.Delete(ctx, token(key), jetstream.LastRevision(rev))
	switch {
	case err == nil:
		return nil
	case revisionConflict(err):
		return sessions.ErrConflict
	}
	return fmt.Errorf("cluster: delete session: %w", err)
}

// List implements sessions.Store: every record in the bucket, for a node
// taking up the sessions it held when it starts.
func (m *MQTT) List(ctx context.Context) ([]sessions.Entry, error) {
	kv, err := m.bucketNow(ctx)
	if err != nil {
		return nil, err
	}
	// A watcher's first updates are the bucket's records as they stand,
	// then nil.
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("cluster: list sessions: %w", err)
	}
	defer w.Stop() //nolint:errcheck // only stops the watcher
	var out []sessions.Entry
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: list sessions: %w", ctx.Err())
		}
		if e == nil {
			return out, nil
		}
		if raw, err := base64.RawURLEncoding.DecodeString(e.Key()); err == nil { // else not a record of ours
			out = append(out, sessions.Entry{Key: string(raw), Record: e.Value(), Revision: e.Revision()})
		}
	}
}

// revisionConflict reports a compare-and-set that found another revision.
func revisionConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

func (m *MQTT) handoverSubject(node, key string) string {
	return m.b.cfg.Prefix + ".ctl.session." + token(node) + "." + key
}

// Handover asks node to hand session key over: to close the connection
// holding it and save its record. It returns once node answered, or with
// an error when no answer came within handoverWait (the node is gone).
func (m *MQTT) Handover(ctx context.Context, node, key string) error {
	if err := m.CheckKey(key); err != nil { // nothing too long reaches NATS
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, handoverWait)
	defer cancel()
	if _, err := m.b.link().nc.RequestWithContext(ctx, m.handoverSubject(node, token(key)), nil); err != nil {
		return fmt.Errorf("cluster: handover of a session from node %q: %w", node, err)
	}
	return nil
}

// ServeHandovers answers this node's handover requests once handle(key)
// returned; stop ends it.
func (m *MQTT) ServeHandovers(handle func(key string)) (stop func(), err error) {
	cb := func(msg *nats.Msg) {
		raw, err := base64.RawURLEncoding.DecodeString(msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:])
		if err != nil {
			return
		}
		go func() { // a handover waits for the connection to close: not on NATS's goroutine
			handle(string(raw))
			_ = msg.Respond(nil)
		}()
	}
	return m.b.follow(func(nc *nats.Conn) (func(), error) {
		sub, err := nc.Subscribe(m.handoverSubject(m.b.cfg.Node, "*"), cb)
		if err != nil {
			return nil, fmt.Errorf("cluster: subscribe to handovers: %w", err)
		}
		if err := nc.Flush(); err != nil { // NATS knows the node listens before its clients come
			_ = sub.Unsubscribe()
			return nil, fmt.Errorf("cluster: subscribe to handovers: %w", err)
		}
		return func() { _ = sub.Unsubscribe() }, nil
	})
}

// Share delivers the messages of filter (durable and not) that NATS gives
// this node out of queue group queue: each message goes to one
// subscriber of the group in the whole cluster. At most once: a message
// given to a node that then dies is lost.
func (m *MQTT) Share(queue, filter string, deliver func(*message.Message)) (stop func(), err error) {
	if err := m.CheckShare(queue, filter); err != nil {
		return nil, err
	}
	cb := func(msg *nats.Msg) {
		if dm, err := store.DecodeMessage(msg.Data, m.b.epoch); err == nil && topic.Match(filter, dm.Topic) {
			dm.Seq = 0 // a queue delivery has no position
			deliver(dm)
		}
	}
	return m.b.follow(func(nc *nats.Conn) (func(), error) {
		var subs []*nats.Subscription
		stop := func() {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
		}
		for _, kind := range []string{".m", ".n"} {
			for _, subject := range topic.SubjectFilters(m.b.cfg.Prefix+kind, filter) {
				s, err := nc.QueueSubscribe(subject, token(queue), cb)
				if err != nil {
					stop()
					return nil, fmt.Errorf("cluster: queue subscribe %s: %w", subject, err)
				}
				subs = append(subs, s)
			}
		}
		// Once NATS has the interest, a publish anywhere after SUBACK reaches it.
		if err := nc.Flush(); err != nil {
			stop()
			return nil, fmt.Errorf("cluster: queue subscribe: %w", err)
		}
		return stop, nil
	})
}
