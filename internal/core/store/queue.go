package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// keyQueue prefixes the records of named FIFO queues (outgoing webhooks):
// Q NAME 0x00 SEQ → record. It sits beside the keys listed in store.go.
const keyQueue = 'Q'

// QueueItem is one record of a named queue.
type QueueItem struct {
	Seq  uint64
	Data []byte
}

// ErrQueueName is a queue name the keys cannot hold.
var ErrQueueName = errors.New("store: a queue name must be non-empty and hold no NUL byte")

func queuePrefix(name string) ([]byte, error) {
	for i := range len(name) {
		if name[i] == 0 {
			return nil, ErrQueueName
		}
	}
	if name == "" {
		return nil, ErrQueueName
	}
	return append(append([]byte{keyQueue}, name...), 0), nil
}

// QueueAppend stores recs in the named queue at sequences first, first+1…,
// synced: once it returns they survive a crash. The caller numbers them
// after the queue's last (QueueStat).
func (s *Store) QueueAppend(name string, first uint64, recs [][]byte) error {
	prefix, err := queuePrefix(name)
	if err != nil {
		return err
	}
	release, err := s.use()
	if err != nil {
		return err
	}
	defer release()
	b := s.db.NewBatch()
	defer b.Close()
	for i, rec := range recs {
		if err := b.Set(binary.BigEndian.AppendUint64(prefix[:len(prefix):len(prefix)], first+uint64(i)), rec, nil); err != nil {
			return fmt.Errorf("store: queue %s: %w", name, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: queue %s: %w", name, err)
	}
	return nil
}

// QueueHead returns up to n of the named queue's oldest records.
func (s *Store) QueueHead(name string, n int) ([]QueueItem, error) {
	prefix, err := queuePrefix(name)
	if err != nil {
		return nil, err
	}
	release, err := s.use()
	if err != nil {
		return nil, err
	}
	defer release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("store: queue %s: %w", name, err)
	}
	defer it.Close()
	var out []QueueItem
	for it.First(); it.Valid() && len(out) < n; it.Next() {
		out = append(out, QueueItem{Seq: binary.BigEndian.Uint64(it.Key()[len(prefix):]), Data: append([]byte(nil), it.Value()...)})
	}
	return out, it.Error()
}

// QueueRemove deletes the named queue's records up to and including upTo.
// It does not wait for the disk: after a crash a removed record may come
// back, and is sent again (at least once).
func (s *Store) QueueRemove(name string, upTo uint64) error {
	prefix, err := queuePrefix(name)
	if err != nil {
		return err
	}
	release, err := s.use()
	if err != nil {
		return err
	}
	defer release()
	end := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), upTo+1)
	if upTo == ^uint64(0) {
		end = prefixEnd(prefix)
	}
	if err := s.db.DeleteRange(prefix, end, pebble.NoSync); err != nil {
		return fmt.Errorf("store: queue %s: %w", name, err)
	}
	return nil
}

// QueueStat counts the named queue's records and returns the last one's
// sequence (0 when empty).
func (s *Store) QueueStat(name string) (count int, last uint64, err error) {
	prefix, err := queuePrefix(name)
	if err != nil {
		return 0, 0, err
	}
	release, err := s.use()
	if err != nil {
		return 0, 0, err
	}
	defer release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, 0, fmt.Errorf("store: queue %s: %w", name, err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		count++
		last = binary.BigEndian.Uint64(it.Key()[len(prefix):])
	}
	return count, last, it.Error()
}
