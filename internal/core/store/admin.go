package store

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// StreamInfo describes one durable stream for the admin API: its size, its
// first and last stored sequences (0 when empty) and its retention.
type StreamInfo struct {
	Stream
	Messages    int
	Bytes       int64
	First, Last uint64
}

// Streams describes every durable stream.
func (s *Store) Streams() ([]StreamInfo, error) {
	release, err := s.use()
	if err != nil {
		return nil, err
	}
	defer release()
	s.mu.Lock()
	out := make([]StreamInfo, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, StreamInfo{Stream: st.Stream, Messages: st.count, Bytes: st.bytes})
	}
	s.mu.Unlock()
	for i := range out {
		first, last, err := s.bounds(out[i].Filter)
		if err != nil {
			return nil, fmt.Errorf("store: stream %q: %w", out[i].Filter, err)
		}
		out[i].First, out[i].Last = first, last
	}
	return out, nil
}

// bounds returns the first and last sequences stored in a stream's index.
func (s *Store) bounds(filter string) (first, last uint64, err error) {
	prefix := indexPrefix(filter)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	seqOf := func() uint64 { return binary.BigEndian.Uint64(it.Key()[len(prefix):]) }
	if it.First() {
		first = seqOf()
	}
	if it.Last() {
		last = seqOf()
	}
	return first, last, it.Error()
}

// DiskSize is the space the store takes on disk, in bytes.
func (s *Store) DiskSize() uint64 {
	release, err := s.use()
	if err != nil {
		return 0
	}
	defer release()
	return s.db.Metrics().DiskSpaceUsage()
}
