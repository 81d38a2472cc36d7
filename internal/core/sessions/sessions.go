// Package sessions is the one contract of MQTT's session records: a key
// (the session's name), an opaque record and a revision that moves on
// every write, so that every write is a compare-and-set. MQTT saves its
// sessions through it alike on one node and on a cluster; the
// implementations are the memory map here (no data directory: sessions
// live as long as the process), the data directory's pebble
// (store.Store.Sessions) and the cluster's JetStream key-value bucket
// (cluster.MQTT).
package sessions

import (
	"context"
	"errors"
)

// Store keeps session records by key, each at a revision: none (0) until
// it is created, then a number that differs after every write of it, and
// after a deletion and creation again. Safe for concurrent use.
type Store interface {
	// Load returns the record of key and its revision; nil and 0 when
	// there is none.
	Load(ctx context.Context, key string) (rec []byte, rev uint64, err error)
	// Save writes rec if the record of key is at revision rev still (0:
	// if there is none), and returns its new revision; ErrConflict when
	// the revision moved.
	Save(ctx context.Context, key string, rec []byte, rev uint64) (next uint64, err error)
	// Delete removes the record of key if it is at revision rev still;
	// ErrConflict when it moved. Deleting no record at revision 0 is done
	// already.
	Delete(ctx context.Context, key string, rev uint64) error
	// List returns every record, for a node to take up its sessions when
	// it starts.
	List(ctx context.Context) ([]Entry, error)
}

// Entry is one stored record.
type Entry struct {
	Key      string
	Record   []byte
	Revision uint64
}

var (
	// ErrConflict is a compare-and-set that found another revision:
	// someone wrote or deleted the record since it was read.
	ErrConflict = errors.New("sessions: the record's revision moved")
	// ErrInvalidKey is a key the store cannot hold (empty, or too long
	// for the cluster's subjects): the CONNECT naming it is refused.
	ErrInvalidKey = errors.New("sessions: invalid key")
)
