package webhook

import (
	"sync"

	"streamhub/internal/core/store"
)

// backlog is one hook's queue of event bodies, oldest first. add is
// called by whoever emits; flush, head and pop only by the hook's
// delivering goroutine (and flush by Close once it stopped).
type backlog interface {
	// add queues body unless the queue is full.
	add(body []byte) bool
	// flush makes what add took durable (a no-op in memory).
	flush() error
	// head is the oldest body, false when there is none.
	head() ([]byte, bool, error)
	// pop removes the oldest body.
	pop() error
	// len counts the bodies waiting.
	len() int
}

// memoryBacklog is a bounded queue in memory.
type memoryBacklog struct {
	mu    sync.Mutex
	items [][]byte
	limit int
}

func (q *memoryBacklog) add(body []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.limit {
		return false
	}
	q.items = append(q.items, body)
	return true
}

func (q *memoryBacklog) flush() error { return nil }

func (q *memoryBacklog) head() ([]byte, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false, nil
	}
	return q.items[0], true, nil
}

func (q *memoryBacklog) pop() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		q.items[0] = nil
		q.items = q.items[1:]
	}
	return nil
}

func (q *memoryBacklog) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// storedBacklog keeps the queue in the store: add collects bodies in
// memory (it must not wait for the disk), and the delivering goroutine
// writes them, synced, before it sends anything newer than them.
type storedBacklog struct {
	st    Store
	name  string
	limit int

	mu      sync.Mutex
	intake  [][]byte
	writing int // bodies taken from intake and not stored yet
	stored  int
	next    uint64            // the sequence of the next body stored
	page    []store.QueueItem // the oldest stored bodies (delivering goroutine only)
	removed uint64            // the last sequence removed (delivering goroutine only)
}

// storePage is how many stored events are read at once.
const storePage = 64

func openStored(st Store, name string, limit int) (*storedBacklog, error) {
	count, last, err := st.QueueStat(name)
	if err != nil {
		return nil, err
	}
	return &storedBacklog{st: st, name: name, limit: limit, stored: count, next: last + 1}, nil
}

func (q *storedBacklog) add(body []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stored+q.writing+len(q.intake) >= q.limit {
		return false
	}
	q.intake = append(q.intake, body)
	return true
}

func (q *storedBacklog) flush() error {
	q.mu.Lock()
	batch := q.intake
	q.intake, q.writing = nil, len(batch)
	q.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := q.st.QueueAppend(q.name, q.next, batch)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.writing = 0
	if err != nil {
		q.intake = append(batch, q.intake...) // tried again at the next flush
		return err
	}
	q.next += uint64(len(batch))
	q.stored += len(batch)
	return nil
}

func (q *storedBacklog) head() ([]byte, bool, error) {
	if len(q.page) == 0 {
		page, err := q.st.QueueHead(q.name, q.removed, storePage)
		if err != nil {
			return nil, false, err
		}
		q.page = page
	}
	if len(q.page) == 0 {
		return nil, false, nil
	}
	return q.page[0].Data, true, nil
}

func (q *storedBacklog) pop() error {
	if len(q.page) == 0 {
		return nil
	}
	if err := q.st.QueueRemove(q.name, q.page[0].Seq); err != nil {
		return err
	}
	q.removed = q.page[0].Seq
	q.page = q.page[1:]
	q.mu.Lock()
	q.stored--
	q.mu.Unlock()
	return nil
}

func (q *storedBacklog) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stored + q.writing + len(q.intake)
}
