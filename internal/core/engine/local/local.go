// Package local is the single-node engine: this process numbers every
// message, in memory only or with a store (the pebble one in
// internal/core/store) keeping durable topics and retained messages
// across restarts. A publish returns once its message is stored (if its
// topic is durable) and queued for every subscriber.
package local

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"time"

	"streamhub/internal/core/engine"
	"streamhub/internal/core/message"
)

// Store keeps durable streams and retained messages; internal/core/store
// implements it on disk.
type Store interface {
	Epoch() string
	// Reserved is the highest sequence possibly handed out before; Reserve
	// durably raises it, so that sequences are never reused after a crash.
	Reserved() uint64
	Reserve(upTo uint64) error
	Durable(name string) bool
	// Covered reports whether every topic a filter matches is durable;
	// Reaches, whether any may be.
	Covered(filter string) bool
	Reaches(filter string) bool
	// Stage adds a message to the next Commit (durable record, retained update).
	Stage(m *message.Message)
	Commit() error
	Retained() ([]*message.Message, error)
	Replay(filters []string, after, upTo uint64, limit int) (msgs []*message.Message, last uint64, done bool, err error)
	Gap(filters []string, after uint64) bool
	SeqAtTime(t time.Time, upTo uint64) (uint64, error)
	LastN(filters []string, n int, upTo uint64) (after uint64, found int, err error)
}

// reserveStep is how many sequences one durable reservation covers.
const reserveStep = 1 << 20

// Engine is the local engine. Its sequence and staged messages are
// guarded by the sink's lock (engine.Sink.Lock): the hub's, which fan-out
// takes anyway, so that a message is numbered and fanned out in one step
// and a publish costs no lock of the engine's own.
type Engine struct {
	log   *slog.Logger
	store Store // nil: memory only
	epoch string
	head  uint64 // the sequence reserved when the engine was made
	sink  engine.Sink

	// Guarded by the sink's lock.
	seq      uint64
	reserved uint64
	// staged are messages numbered but waiting for their commit, in
	// order; the committer fans them out once stored.
	staged     []*staged
	committing bool // a batch taken from staged is not fanned out and acknowledged yet: later messages wait too

	commitWake    chan struct{}
	committerDone chan struct{}
}

var _ engine.Engine = (*Engine)(nil)

// New makes a local engine on store, or in memory only when store is nil
// (a fresh epoch, nothing kept past the hub's memory windows).
func New(store Store, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{log: log, epoch: newEpoch()}
	if store != nil {
		e.store = store
		e.epoch = store.Epoch()
		e.head = store.Reserved()
		e.seq, e.reserved = e.head, e.head
	}
	return e
}

func newEpoch() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<40))
	if err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return strconv.FormatInt(n.Int64(), 36)
}

// Epoch is the store's epoch, or a fresh one in memory.
func (e *Engine) Epoch() string { return e.epoch }

// Head is the sequence the store had reserved: older messages are on
// disk or gone.
func (e *Engine) Head() uint64 { return e.head }

// Retained is the store's retained messages (none in memory).
func (e *Engine) Retained(context.Context) ([]*message.Message, error) {
	if e.store == nil {
		return nil, nil
	}
	return e.store.Retained()
}

// Start takes the sink to deliver into and, with a store, starts the
// committer.
func (e *Engine) Start(sink engine.Sink) error {
	e.sink = sink
	if e.store != nil {
		e.commitWake = make(chan struct{}, 1)
		e.committerDone = make(chan struct{})
		go e.committer()
	}
	return nil
}

// Stop commits what is staged and stops the committer. The hub is
// closed by then: nothing more is staged.
func (e *Engine) Stop() {
	if e.commitWake == nil {
		return
	}
	e.sink.Lock()
	close(e.commitWake) // under the lock, so that no stage sends meanwhile
	e.sink.Unlock()
	<-e.committerDone
}

// staged is a message waiting for its commit; the committer tells its
// publisher through done (Publish) or then (PublishAsync).
type staged struct {
	m    *message.Message
	done chan error
	then func(message.Cursor, error)
}

// finish tells the publisher how its message ended.
func (st *staged) finish(err error) {
	switch {
	case st.then == nil:
		st.done <- err
	case err != nil:
		st.then(message.Cursor{}, err)
	default:
		st.then(st.m.Cursor(), nil)
	}
}

// Publish numbers m and fans it out. A message that must be stored
// (durable topic, retained) is fanned out, and Publish returns, only once
// the store committed it; messages that follow it wait in order, so
// subscribers see cursors in order.
func (e *Engine) Publish(_ context.Context, m *message.Message) (message.Cursor, error) {
	st, err := e.stage(m, nil)
	if st != nil {
		err = <-st.done
	}
	if err != nil {
		return message.Cursor{}, err
	}
	return m.Cursor(), nil
}

// PublishAsync is Publish telling done instead of returning: at once, or
// from the committer once the message is stored.
func (e *Engine) PublishAsync(_ context.Context, m *message.Message, done func(message.Cursor, error)) {
	st, err := e.stage(m, done)
	switch {
	case st != nil: // the committer calls done
	case err != nil:
		done(message.Cursor{}, err)
	default:
		done(m.Cursor(), nil)
	}
}

// stage numbers m and fans it out at once if it need not be stored and
// nothing waits for a commit before it (st is then nil, and err whether
// it was refused); otherwise it stages m for the committer, which
// finishes the returned st.
func (e *Engine) stage(m *message.Message, then func(message.Cursor, error)) (st *staged, err error) {
	if err := e.sink.Lock(); err != nil {
		e.sink.Unlock()
		return nil, err
	}
	if e.store == nil { // memory only: nothing is ever staged
		e.seq++
		m.Seq, m.Epoch = e.seq, e.epoch
		e.sink.DeliverLocked(m)
		e.sink.Unlock()
		return nil, nil
	}
	defer e.sink.Unlock()
	if e.seq+1 > e.reserved {
		if err := e.store.Reserve(e.seq + reserveStep); err != nil {
			return nil, fmt.Errorf("local engine: %w", err)
		}
		e.reserved = e.seq + reserveStep
	}
	e.seq++
	m.Seq, m.Epoch = e.seq, e.epoch
	store := m.Retain || e.store.Durable(m.Topic)
	if !store && len(e.staged) == 0 && !e.committing {
		e.sink.DeliverLocked(m)
		return nil, nil
	}
	if store {
		e.store.Stage(m)
	}
	st = &staged{m: m, then: then}
	if then == nil {
		st.done = make(chan error, 1)
	}
	e.staged = append(e.staged, st)
	select { // under the lock, so that Stop cannot close the channel meanwhile
	case e.commitWake <- struct{}{}:
	default:
	}
	return st, nil
}

// committer commits staged messages, many per fsync, then fans them out.
func (e *Engine) committer() {
	defer close(e.committerDone)
	for range e.commitWake {
		for {
			closed := e.sink.Lock() != nil
			batch := e.staged
			e.staged = nil
			e.committing = len(batch) > 0
			e.sink.Unlock()
			if len(batch) == 0 {
				break
			}
			err := e.store.Commit()
			if err != nil {
				e.log.Error("store commit failed; publishes refused", "err", err, "messages", len(batch))
			}
			if e.sink.Lock() == nil && err == nil && !closed {
				for _, st := range batch {
					e.sink.DeliverLocked(st.m)
				}
			}
			e.sink.Unlock()
			// committing stays set until every publisher of the batch has
			// been told (the next round clears it), so that a later
			// message, fanned out at once, is never acknowledged before
			// one of these: PUBACKs go out in publish order.
			for _, st := range batch {
				st.finish(err)
			}
		}
	}
}

// Place looks in the store. Without one, or when the filters reach no
// durable topic, nothing they match is kept past the memory windows (the
// store's messages of other topics say nothing about when the lost ones
// were published).
func (e *Engine) Place(_ context.Context, filters []string, from engine.From, upTo uint64) (engine.Placed, error) {
	if e.store == nil || !slices.ContainsFunc(filters, e.store.Reaches) {
		return engine.PlaceUnkept(from, upTo), nil
	}
	p := engine.Placed{After: from.After, Replay: true}
	var err error
	switch {
	case !from.Since.IsZero():
		p.After, err = e.store.SeqAtTime(from.Since, upTo)
	case from.Last > 0:
		p.After, _, err = e.store.LastN(filters, from.Last, upTo)
	}
	if err != nil {
		return engine.Placed{}, fmt.Errorf("local engine: %w", err)
	}
	p.Gap = e.store.Gap(filters, p.After) || !e.covered(filters)
	return p, nil
}

// covered reports whether every filter matches durable topics only.
func (e *Engine) covered(filters []string) bool {
	for _, f := range filters {
		if !e.store.Covered(f) {
			return false
		}
	}
	return true
}

// Replay reads the store's pages (nothing in memory).
func (e *Engine) Replay(_ context.Context, filters []string, after, upTo uint64, limit int) ([]*message.Message, uint64, bool, error) {
	if e.store == nil {
		return nil, upTo, true, nil
	}
	return e.store.Replay(filters, after, upTo, limit)
}

// Durable reports whether the store keeps topic name (never in memory).
func (e *Engine) Durable(name string) bool { return e.store != nil && e.store.Durable(name) }

// CheckName accepts every valid name: MQTT's 65,535 bytes is the only
// bound.
func (*Engine) CheckName(string) error { return nil }

// CheckFilter accepts every valid filter.
func (*Engine) CheckFilter(string) error { return nil }

// Stats reports the last sequence handed out and the messages staged for
// the next commit (not the batch being committed).
func (e *Engine) Stats() engine.Stats {
	e.sink.Lock()
	defer e.sink.Unlock()
	return engine.Stats{Position: e.seq, Pending: len(e.staged)}
}
