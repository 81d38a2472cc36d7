package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// keyQueue prefixes the records of named FIFO queues (outgoing webhooks):
// w NAME 0x00 SEQ → record. It sits beside the keys listed in store.go.
const keyQueue = 'w'

// QueueItem is one record of a named queue.
type QueueItem struct {
	Seq  uint64
	Data []byte
}

// ErrQueueName is a queue name the keys cannot hold.
var ErrQueueName = errors.New("store: a queue name must be non-empty and hold no NUL byte")

// inQueue runs f with the named queue's key prefix while the database
// is open, wrapping its error with the queue's name.
func (s *Store) inQueue(name string, f func(prefix []byte) error) error {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return ErrQueueName
	}
	release, err := s.use()
	if err != nil {
		return err
	}
	defer release()
	if err := f(append(append([]byte{keyQueue}, name...), 0)); err != nil {
		return fmt.Errorf("store: queue %s: %w", name, err)
	}
	return nil
}

// QueueAppend stores recs in the named queue at sequences first, first+1…,
// synced: once it returns they survive a crash. The caller numbers them
// after the queue's last (QueueStat).
func (s *Store) QueueAppend(name string, first uint64, recs [][]byte) error {
	return s.inQueue(name, func(prefix []byte) error {
		b := s.db.NewBatch()
		defer b.Close()
		for i, rec := range recs {
			if err := b.Set(queueKey(prefix, first+uint64(i)), rec, nil); err != nil {
				return err
			}
		}
		return b.Commit(pebble.Sync)
	})
}

// QueueHead returns up to n of the named queue's oldest records after
// sequence after: a reader that removes what it read passes the last
// sequence it removed, so that it does not walk over their tombstones.
func (s *Store) QueueHead(name string, after uint64, n int) (items []QueueItem, err error) {
	err = s.inQueue(name, func(prefix []byte) error {
		return s.scanQueue(prefix, after, func(seq uint64, v []byte) bool {
			items = append(items, QueueItem{Seq: seq, Data: append([]byte(nil), v...)})
			return len(items) < n
		})
	})
	return items, err
}

// QueueStat counts the named queue's records and returns the last one's
// sequence (0 when empty).
func (s *Store) QueueStat(name string) (count int, last uint64, err error) {
	err = s.inQueue(name, func(prefix []byte) error {
		return s.scanQueue(prefix, 0, func(seq uint64, _ []byte) bool {
			count, last = count+1, seq
			return true
		})
	})
	return count, last, err
}

// scanQueue calls f on the queue's records after sequence after, in
// order, while it answers true.
func (s *Store) scanQueue(prefix []byte, after uint64, f func(seq uint64, value []byte) bool) error {
	lower := prefix
	if after > 0 {
		lower = queueKey(prefix, after+1)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid && f(binary.BigEndian.Uint64(it.Key()[len(prefix):]), it.Value()); valid = it.Next() {
	}
	return it.Error()
}

// QueueRemove deletes one record of the named queue. It does not wait
// for the disk: after a crash a removed record may come back, and is
// sent again (at least once).
func (s *Store) QueueRemove(name string, seq uint64) error {
	return s.inQueue(name, func(prefix []byte) error {
		return s.db.Delete(queueKey(prefix, seq), pebble.NoSync)
	})
}

func queueKey(prefix []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(prefix[:len(prefix):len(prefix)], seq)
}
