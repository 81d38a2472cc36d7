// Package store keeps durable streams on disk with cockroachdb/pebble: the
// messages of durable topics in cursor order, retained messages, the epoch
// and the highest sequence handed out, so that cursors survive restarts and
// are never reused. Retention per stream runs in the background.
package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
)

// Stream is one durable topic filter and its retention; zero means no limit.
type Stream struct {
	Filter   string
	Messages int
	Bytes    int64
	Age      time.Duration
}

// Config opens a store.
type Config struct {
	Dir     string
	Streams []Stream
	// Interval, when set, relaxes durability: writes are acknowledged before
	// they reach the disk, which is synced every Interval. Zero syncs every
	// commit (one fsync shared by all publishes waiting for it).
	Interval time.Duration
}

// Keys: single-byte prefixes, then big-endian numbers so that byte order is
// numeric order.
const (
	keyEpoch    = 'e'
	keyReserved = 'r'
	keyMessage  = 'm' // m SEQ → record
	keyIndex    = 's' // s FILTER 0x00 SEQ → size, time: per-stream order for retention
	keyDeleted  = 'd' // d FILTER → highest sequence removed by retention
	keyRetained = 't' // t TOPIC → record
	keySession  = 'q' // q KEY → MQTT session record (sessions.go)
	// keySessionRev 'Q' and keySessionSeq 'v' are in sessions.go, keyQueue
	// 'w' in queue.go; TestKeyPrefixesDistinct holds them apart.
)

// Store is safe for concurrent use.
type Store struct {
	db    *pebble.DB
	lock  *dirLock // held from Open to Close
	cfg   Config
	log   *slog.Logger
	epoch string
	sync  *pebble.WriteOptions

	// open guards the database against Close: each read or write outside
	// the committer holds it shared, so pebble is never closed under an
	// open iterator (which panics the process), e.g. a subscriber's replay
	// still running while the server shuts down.
	open   sync.RWMutex
	closed bool

	// sessionMu makes each compare-and-set of a session record one step.
	sessionMu sync.Mutex

	mu       sync.Mutex
	batch    *pebble.Batch
	scratch  struct{ key, idx, rec []byte } // Stage's encoding buffers
	streams  []*streamState
	reserved uint64
	stop     chan struct{}
	wg       sync.WaitGroup
}

// ErrClosed is a read or write of a store that was closed.
var ErrClosed = errors.New("store: closed")

// use holds the database open until release; ErrClosed once Close began.
func (s *Store) use() (release func(), err error) {
	s.open.RLock()
	if s.closed {
		s.open.RUnlock()
		return nil, ErrClosed
	}
	return s.open.RUnlock, nil
}

type streamState struct {
	Stream
	count   int
	bytes   int64
	deleted uint64 // highest sequence retention removed
}

// Open opens or creates the store in cfg.Dir.
func Open(cfg Config, log *slog.Logger) (*Store, error) {
	for _, st := range cfg.Streams {
		if err := topic.ValidateFilter(st.Filter); err != nil {
			return nil, fmt.Errorf("store: durable stream: %w", err)
		}
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	db, err := pebble.Open(cfg.Dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Dir, err)
	}
	s := &Store{db: db, lock: lock, cfg: cfg, log: log, sync: pebble.Sync, stop: make(chan struct{})}
	if cfg.Interval > 0 {
		s.sync = pebble.NoSync
	}
	if err := s.load(); err != nil {
		db.Close()
		lock.release()
		return nil, err
	}
	s.batch = db.NewBatch()
	s.wg.Add(1)
	go s.background()
	return s, nil
}

func (s *Store) load() error {
	v, closer, err := s.db.Get([]byte{keyEpoch})
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<40))
		s.epoch = strconv.FormatInt(n.Int64(), 36)
		if err := s.db.Set([]byte{keyEpoch}, []byte(s.epoch), pebble.Sync); err != nil {
			return fmt.Errorf("store: write epoch: %w", err)
		}
	case err != nil:
		return fmt.Errorf("store: read epoch: %w", err)
	default:
		s.epoch = string(v)
		closer.Close()
	}
	if v, closer, err := s.db.Get([]byte{keyReserved}); err == nil {
		s.reserved = binary.BigEndian.Uint64(v)
		closer.Close()
	}
	// The last stored message may be past the reservation only if an older
	// version wrote it; take the larger.
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyMessage}, UpperBound: []byte{keyMessage + 1}})
	if err != nil {
		return err
	}
	if it.Last() {
		s.reserved = max(s.reserved, binary.BigEndian.Uint64(it.Key()[1:]))
	}
	it.Close()
	for _, st := range s.cfg.Streams {
		ss := &streamState{Stream: st}
		prefix := indexPrefix(st.Filter)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			size, _ := binary.Uvarint(it.Value())
			ss.count++
			ss.bytes += int64(size)
		}
		it.Close()
		if v, closer, err := s.db.Get(append([]byte{keyDeleted}, st.Filter...)); err == nil {
			ss.deleted = binary.BigEndian.Uint64(v)
			closer.Close()
		}
		s.streams = append(s.streams, ss)
	}
	return nil
}

// Epoch identifies this store's history.
func (s *Store) Epoch() string { return s.epoch }

// Reserved is the highest sequence that may have been handed out: a hub
// starts after it.
func (s *Store) Reserved() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved
}

// Reserve records, durably, that sequences up to upTo may be handed out.
func (s *Store) Reserve(upTo uint64) error {
	release, err := s.use()
	if err != nil {
		return err
	}
	defer release()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Set([]byte{keyReserved}, binary.BigEndian.AppendUint64(nil, upTo), pebble.Sync); err != nil {
		return fmt.Errorf("store: reserve sequences: %w", err)
	}
	s.reserved = upTo
	return nil
}

// Durable reports whether topic name belongs to a durable stream.
func (s *Store) Durable(name string) bool { return s.streamOf(name) != nil }

// Covered reports whether every topic filter matches is durable.
func (s *Store) Covered(filter string) bool {
	for _, st := range s.streams {
		if topic.Covers(st.Filter, filter) {
			return true
		}
	}
	return false
}

// Reaches reports whether filter may match a durable topic: if not, no
// message it matches is stored.
func (s *Store) Reaches(filter string) bool {
	for _, st := range s.streams {
		if topic.Overlap(st.Filter, filter) {
			return true
		}
	}
	return false
}

func (s *Store) streamOf(name string) *streamState {
	for _, st := range s.streams {
		if topic.Match(st.Filter, name) {
			return st
		}
	}
	return nil
}

// Stage adds m to the next commit: its record if its topic is durable, and
// the retained store's update if it is retained.
func (s *Store) Stage(m *message.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The batch copies keys and values: they are encoded into scratch.
	sc := &s.scratch
	var rec []byte
	if st := s.streamOf(m.Topic); st != nil {
		rec = encodeMessage(sc.rec[:0], m)
		sc.key = appendMessageKey(sc.key[:0], m.Seq)
		s.batch.Set(sc.key, rec, nil)
		sc.idx = binary.AppendUvarint(sc.idx[:0], uint64(len(rec)))
		sc.idx = binary.AppendVarint(sc.idx, m.Time.UnixNano())
		sc.key = appendIndexKey(sc.key[:0], st.Filter, m.Seq)
		s.batch.Set(sc.key, sc.idx, nil)
		st.count++
		st.bytes += int64(len(rec))
	}
	if m.Retain {
		sc.key = append(append(sc.key[:0], keyRetained), m.Topic...)
		if len(m.Payload) == 0 {
			s.batch.Delete(sc.key, nil)
		} else {
			if rec == nil {
				rec = encodeMessage(sc.rec[:0], m)
			}
			s.batch.Set(sc.key, rec, nil)
		}
	}
	if rec != nil {
		sc.rec = rec[:0]
	}
}

// Commit writes everything staged, synced to disk unless the store runs
// with a sync interval.
func (s *Store) Commit() error {
	s.mu.Lock()
	b := s.batch
	s.batch = s.db.NewBatch()
	s.mu.Unlock()
	defer b.Close()
	if b.Empty() {
		return nil
	}
	if err := b.Commit(s.sync); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Retained returns every stored retained message.
func (s *Store) Retained() ([]*message.Message, error) {
	release, err := s.use()
	if err != nil {
		return nil, err
	}
	defer release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyRetained}, UpperBound: []byte{keyRetained + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*message.Message
	for it.First(); it.Valid(); it.Next() {
		m, err := decodeMessage(it.Value(), s.epoch)
		if err != nil {
			s.log.Warn("skipping corrupt retained record", "key", string(it.Key()[1:]))
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// Replay returns up to limit stored messages matching any filter with a
// sequence in (after, upTo], in order, and the last sequence it examined:
// the next page starts after it. done is true when nothing is left.
func (s *Store) Replay(filters []string, after, upTo uint64, limit int) (msgs []*message.Message, last uint64, done bool, err error) {
	release, err := s.use()
	if err != nil {
		return nil, after, true, err
	}
	defer release()
	last = after
	if after >= upTo {
		return nil, last, true, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: messageKey(after + 1), UpperBound: messageKey(upTo + 1)})
	if err != nil {
		return nil, last, true, fmt.Errorf("store: replay: %w", err)
	}
	defer it.Close()
	now := time.Now()
	wanted := func(m *message.Message) bool { return !m.Expired(now) && topic.MatchAny(filters, m.Topic) }
	page := pageDecoder{epoch: s.epoch}
	scanned := 0
	for it.First(); it.Valid(); it.Next() {
		last = binary.BigEndian.Uint64(it.Key()[1:])
		scanned++
		if m, _ := page.decode(it.Value(), wanted); m != nil { // a corrupt record is skipped
			msgs = append(msgs, m)
		}
		if len(msgs) >= limit || scanned >= 16*limit {
			return msgs, last, !it.Next(), nil
		}
	}
	return msgs, upTo, true, nil
}

// SeqAtTime returns the sequence just before the first stored message
// published at or after t (at most upTo): replaying after it starts at t.
func (s *Store) SeqAtTime(t time.Time, upTo uint64) (uint64, error) {
	release, err := s.use()
	if err != nil {
		return 0, err
	}
	defer release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyMessage}, UpperBound: messageKey(upTo + 1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	prev := uint64(0)
	for it.First(); it.Valid(); it.Next() {
		m, err := decodeMessage(it.Value(), s.epoch)
		seq := binary.BigEndian.Uint64(it.Key()[1:])
		if err == nil && !m.Time.Before(t) {
			return prev, nil
		}
		prev = seq
	}
	return upTo, nil
}

// LastN returns the sequence just before the n-th last stored message
// (at most upTo) matching any filter: replaying after it yields those n.
// found is how many matched, when fewer exist.
func (s *Store) LastN(filters []string, n int, upTo uint64) (after uint64, found int, err error) {
	release, err := s.use()
	if err != nil {
		return 0, 0, err
	}
	defer release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyMessage}, UpperBound: messageKey(upTo + 1)})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	for it.Last(); it.Valid(); it.Prev() {
		m, err := decodeMessage(it.Value(), s.epoch)
		if err != nil || !topic.MatchAny(filters, m.Topic) {
			continue
		}
		found++
		if found == n {
			return binary.BigEndian.Uint64(it.Key()[1:]) - 1, found, nil
		}
	}
	return 0, found, nil
}

// Gap reports whether retention removed messages after seq from a stream
// that the filters could match.
func (s *Store) Gap(filters []string, after uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if st.deleted <= after {
			continue
		}
		for _, f := range filters {
			if topic.Overlap(st.Filter, f) {
				return true
			}
		}
	}
	return false
}

// Close stops retention and closes the database after a final sync.
func (s *Store) Close() error {
	close(s.stop)
	s.wg.Wait()
	s.open.Lock() // waits for reads and writes under way
	s.closed = true
	s.open.Unlock()
	defer s.lock.release() // after pebble has let go of the directory
	if err := s.Commit(); err != nil {
		s.db.Close()
		return err
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		s.db.Close()
		return fmt.Errorf("store: final sync: %w", err)
	}
	return s.db.Close()
}

func (s *Store) background() {
	defer s.wg.Done()
	retention := time.NewTicker(time.Second)
	defer retention.Stop()
	var syncTick <-chan time.Time
	if s.cfg.Interval > 0 {
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		syncTick = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-syncTick:
			if err := s.db.LogData(nil, pebble.Sync); err != nil {
				s.log.Error("store: periodic sync failed", "err", err)
			}
		case now := <-retention.C:
			if err := s.Enforce(now); err != nil {
				s.log.Error("store: retention failed", "err", err)
			}
		}
	}
}

// Enforce removes the oldest messages of each stream over its limits.
func (s *Store) Enforce(now time.Time) error {
	for _, st := range s.streams {
		if err := s.enforce(st, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) enforce(st *streamState, now time.Time) error {
	s.mu.Lock()
	over := func(oldest time.Time) bool {
		return (st.Messages > 0 && st.count > st.Messages) || (st.Bytes > 0 && st.bytes > st.Bytes) ||
			(st.Age > 0 && now.Sub(oldest) > st.Age)
	}
	s.mu.Unlock()
	prefix := indexPrefix(st.Filter)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	var removed int
	var removedBytes int64
	var deleted uint64
	for it.First(); it.Valid(); it.Next() {
		size, n := binary.Uvarint(it.Value())
		ts, _ := binary.Varint(it.Value()[max(n, 0):])
		s.mu.Lock()
		cut := over(time.Unix(0, ts))
		if cut {
			st.count--
			st.bytes -= int64(size)
		}
		s.mu.Unlock()
		if !cut {
			break
		}
		seq := binary.BigEndian.Uint64(it.Key()[len(prefix):])
		b.Delete(it.Key(), nil)
		b.Delete(messageKey(seq), nil)
		deleted = seq
		removed++
		removedBytes += int64(size)
	}
	it.Close()
	if removed == 0 {
		return nil
	}
	b.Set(append([]byte{keyDeleted}, st.Filter...), binary.BigEndian.AppendUint64(nil, deleted), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store: retention: %w", err)
	}
	s.mu.Lock()
	st.deleted = max(st.deleted, deleted)
	s.mu.Unlock()
	s.log.Debug("retention", "stream", st.Filter, "removed", removed, "bytes", removedBytes)
	return nil
}

// Stats describes one stream.
type Stats struct {
	Filter   string
	Messages int
	Bytes    int64
}

// Stats returns each stream's size.
func (s *Store) Stats() []Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Stats, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, Stats{Filter: st.Filter, Messages: st.count, Bytes: st.bytes})
	}
	return out
}

func messageKey(seq uint64) []byte { return appendMessageKey(nil, seq) }

func appendMessageKey(dst []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, keyMessage), seq)
}

func indexPrefix(filter string) []byte { return appendIndexPrefix(nil, filter) }

func appendIndexPrefix(dst []byte, filter string) []byte {
	return append(append(append(dst, keyIndex), filter...), 0)
}

func appendIndexKey(dst []byte, filter string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendIndexPrefix(dst, filter), seq)
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	end[len(end)-1]++
	return end
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
