package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"streamhub/internal/core/sessions"
)

// MQTT session records keep the format they always had, the record under
// keySession, so that a data directory written before revisions loads
// as it is; each record's revision is beside it, and the last revision
// handed out under keySessionSeq, all written in one batch.
const (
	keySessionRev = 'Q' // Q KEY → the record's revision
	keySessionSeq = 'v' // v → the last revision handed out
	// legacyRevision is the revision of a record written before
	// revisions: the sequence starts above it.
	legacyRevision = 1
)

// Sessions are the store's MQTT session records, a sessions.Store.
type Sessions Store

var _ sessions.Store = (*Sessions)(nil)

// Sessions returns the store's MQTT session records.
func (s *Store) Sessions() *Sessions { return (*Sessions)(s) }

func sessionKey(prefix byte, key string) []byte { return append([]byte{prefix}, key...) }

// Load implements sessions.Store.
func (ss *Sessions) Load(_ context.Context, key string) ([]byte, uint64, error) {
	s := (*Store)(ss)
	if key == "" {
		return nil, 0, fmt.Errorf("store: load session: %w", sessions.ErrInvalidKey)
	}
	release, err := s.use()
	if err != nil {
		return nil, 0, err
	}
	defer release()
	rec, rev, err := s.loadSession(key)
	if err != nil {
		return nil, 0, fmt.Errorf("store: load session: %w", err)
	}
	return rec, rev, nil
}

// loadSession reads a record and its revision; the caller holds the
// database open.
func (s *Store) loadSession(key string) ([]byte, uint64, error) {
	v, closer, err := s.db.Get(sessionKey(keySession, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	rec := append([]byte(nil), v...)
	closer.Close()
	rev, err := s.readUint(sessionKey(keySessionRev, key), legacyRevision)
	return rec, rev, err
}

// readUint reads a big-endian number; missing, it is def.
func (s *Store) readUint(key []byte, def uint64) (uint64, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return def, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("number of %d bytes under %q", len(v), key)
	}
	return binary.BigEndian.Uint64(v), nil
}

// Save implements sessions.Store; the record is synced before it returns.
func (ss *Sessions) Save(_ context.Context, key string, rec []byte, rev uint64) (uint64, error) {
	if key == "" {
		return 0, fmt.Errorf("store: save session: %w", sessions.ErrInvalidKey)
	}
	var next uint64
	err := (*Store)(ss).compareAndSetSession(key, rev, func(b *pebble.Batch) error {
		last, err := (*Store)(ss).readUint([]byte{keySessionSeq}, legacyRevision)
		if err != nil {
			return err
		}
		next = last + 1
		v := binary.BigEndian.AppendUint64(nil, next)
		_ = b.Set(sessionKey(keySession, key), rec, nil) // a batch's writes fail only in Commit
		_ = b.Set(sessionKey(keySessionRev, key), v, nil)
		_ = b.Set([]byte{keySessionSeq}, v, nil)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: save session: %w", err)
	}
	return next, nil
}

// Delete implements sessions.Store.
func (ss *Sessions) Delete(_ context.Context, key string, rev uint64) error {
	err := (*Store)(ss).compareAndSetSession(key, rev, func(b *pebble.Batch) error {
		_ = b.Delete(sessionKey(keySession, key), nil)
		_ = b.Delete(sessionKey(keySessionRev, key), nil)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// compareAndSetSession commits, synced, what write puts in a batch, if
// the record of key is at revision rev, one at a time;
// sessions.ErrConflict when it is not.
func (s *Store) compareAndSetSession(key string, rev uint64, write func(b *pebble.Batch) error) error {
	release, err := s.use()
	if err != nil {
		return err
	}
	defer release()
	s.sessionMu.Lock()
	defer s.sessionMu.Unlock()
	_, cur, err := s.loadSession(key)
	if err != nil {
		return err
	}
	if cur != rev {
		return sessions.ErrConflict
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := write(b); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// List implements sessions.Store.
func (ss *Sessions) List(context.Context) ([]sessions.Entry, error) {
	s := (*Store)(ss)
	release, err := s.use()
	if err != nil {
		return nil, err
	}
	defer release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keySession}, UpperBound: []byte{keySession + 1}})
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer it.Close()
	var out []sessions.Entry
	for it.First(); it.Valid(); it.Next() {
		key := string(it.Key()[1:])
		rev, err := s.readUint(sessionKey(keySessionRev, key), legacyRevision)
		if err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		out = append(out, sessions.Entry{Key: key, Record: append([]byte(nil), it.Value()...), Revision: rev})
	}
	return out, it.Error()
}
