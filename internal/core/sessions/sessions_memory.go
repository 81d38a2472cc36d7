package sessions

import (
	"context"
	"fmt"
	"sync"
)

// Memory keeps records in a map, for the life of the process: the store
// of a server without a data directory, so that persistent sessions
// behave there as anywhere else (they outlive their connections, not the
// process).
type Memory struct {
	mu   sync.Mutex
	recs map[string]Entry
	last uint64 // the revision last handed out: one sequence for all keys
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{recs: map[string]Entry{}} }

var _ Store = (*Memory)(nil)

// Load implements Store.
func (m *Memory) Load(_ context.Context, key string) ([]byte, uint64, error) {
	if key == "" {
		return nil, 0, fmt.Errorf("load session: %w", ErrInvalidKey)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.recs[key]
	return e.Record, e.Revision, nil
}

// Save implements Store.
func (m *Memory) Save(_ context.Context, key string, rec []byte, rev uint64) (uint64, error) {
	if key == "" {
		return 0, fmt.Errorf("save session: %w", ErrInvalidKey)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[key].Revision != rev {
		return 0, ErrConflict
	}
	m.last++
	m.recs[key] = Entry{Key: key, Record: append([]byte(nil), rec...), Revision: m.last}
	return m.last, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string, rev uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[key].Revision != rev {
		return ErrConflict
	}
	delete(m.recs, key)
	return nil
}

// List implements Store.
func (m *Memory) List(context.Context) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Entry, 0, len(m.recs))
	for _, e := range m.recs {
		out = append(out, e)
	}
	return out, nil
}
