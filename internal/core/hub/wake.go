package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"streamhub/internal/ratelog"
)

// A transport that can write to an idle connection at once (a plain
// socket tried without blocking) does better to do so from a few
// goroutines that go through every subscriber a publish reached than to
// start one of its own per subscriber and message: a goroutine's start,
// scheduling and end cost about as much as the write. Fan-out runs under
// Hub.mu, which must not wait on sockets, so the hooks set with
// NotifyAfterPublish are collected there, in chunks, and handed to
// walkers once the publish has released it. The walkers take chunks in
// the order publishes queued them; while they are busy, further publishes
// queue behind, so a subscriber reached late finds several messages and
// writes them at once.

// wakeChunk is how many hooks one walker calls at a time: large fan-outs
// are spread over up to GOMAXPROCS walkers a chunk at a time.
const wakeChunk = 128

// NotifyAfterPublish makes the subscription call f, instead of its Notify
// hook, when a publish queued a live message for it: after the publish
// released the hub's locks, from one of the hub's walkers (up to
// GOMAXPROCS goroutines that exist while there are hooks to call). f must
// not block: it may write what it can without waiting and leave the rest
// to a goroutine. Everything else (backlogs, the end, a drain leaving
// messages behind) still goes to Notify.
func (s *Subscription) NotifyAfterPublish(f func()) {
	s.signals().afterPublish.Store(&f)
}

// ErrPanicked ends a subscription whose NotifyAfterPublish hook panicked.
var ErrPanicked = errors.New("internal error: the subscriber's writer panicked")

// wakeList is what one fan-out owes: the subscriptions whose hooks to
// call, in chunks of wakeChunk.
type wakeList struct{ chunks []*[]*Subscription }

// walkers hands chunks of hooks to goroutines started on demand.
type walkers struct {
	chunkPool sync.Pool // *[]*Subscription of capacity wakeChunk
	log       *ratelog.Logger

	mu      sync.Mutex
	queue   []*[]*Subscription // chunks not taken yet, oldest first
	running int
}

func newWalkers(log *slog.Logger) *walkers {
	if log == nil {
		log = slog.Default()
	}
	w := &walkers{log: ratelog.New(log, time.Second, 10)}
	w.chunkPool.New = func() any { c := make([]*Subscription, 0, wakeChunk); return &c }
	return w
}

// owe adds s's hook to *list. The caller holds Hub.mu.
func (h *Hub) owe(list *wakeList, s *Subscription) {
	n := len(list.chunks)
	if n == 0 || len(*list.chunks[n-1]) == wakeChunk {
		list.chunks = append(list.chunks, h.walkers.chunkPool.Get().(*[]*Subscription))
		n++
	}
	last := list.chunks[n-1]
	*last = append(*last, s)
}

// call runs s's hook. A hook that panics ends its own subscription (the
// transport then cleans up as after any end), not the walker and with it
// the process and every other subscriber's delivery.
func (w *walkers) call(s *Subscription) {
	defer func() {
		if v := recover(); v != nil {
			w.log.Log(slog.LevelError, "subscriber's hook panicked; its subscription is ended",
				"transport", s.kind.transport, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.end(fmt.Errorf("%w: %v", ErrPanicked, v))
		}
	}()
	if f := s.afterPublishFunc(); f != nil {
		(*f)()
	}
}

// wake queues what a fan-out owed for the walkers, starting more while
// there are fewer than chunks waiting, up to GOMAXPROCS. The caller holds
// no hub lock.
func (h *Hub) wake(list *wakeList) {
	if len(list.chunks) == 0 {
		return
	}
	w := h.walkers
	w.mu.Lock()
	w.queue = append(w.queue, list.chunks...)
	start := max(0, min(len(w.queue), runtime.GOMAXPROCS(0))-w.running)
	w.running += start
	w.mu.Unlock()
	for range start {
		go w.walk()
	}
}

// walk calls queued chunks of hooks until none is left.
func (w *walkers) walk() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.running--
			w.queue = nil // the backing array, grown by a burst, goes too
			w.mu.Unlock()
			return
		}
		chunk := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.mu.Unlock()
		for _, s := range *chunk {
			w.call(s)
		}
		clear(*chunk)
		*chunk = (*chunk)[:0]
		w.chunkPool.Put(chunk)
		// The hooks never block, so a walker would otherwise keep its P
		// through a whole fan-out: on one core (GOMAXPROCS=1) the
		// publishers would wait for it, and each message would go out on
		// its own. Letting them in between chunks lets messages gather.
		runtime.Gosched()
	}
}
