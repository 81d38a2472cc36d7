package kit

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/core/hub"
)

// ErrStopped is what a spawned writer's ended func gets when the
// transport stopped it (the connection went away).
var ErrStopped = errors.New("writer stopped")

// Writer states while spawned: no goroutine, one running, or one running
// that must go round again because more arrived meanwhile.
const (
	writerIdle int32 = iota
	writerBusy
	writerAgain
)

// Spawn serves sub as Run does, but holds no goroutine while there is
// nothing to write: the subscription's Notify hook, and the heartbeat's
// timer, start a short-lived writer when there is. An idle subscriber then
// costs its socket and its queue, not a parked goroutine and its stack.
// ended is called once, from a writer or from stop, with why it stopped:
// the subscription's end, a failed write or heartbeat, or ErrStopped.
// sub must not be read by anyone else.
func (w *Writer) Spawn(sub *hub.Subscription, ended func(error)) (stop func()) {
	s := &spawned{l: loop{Writer: w, lastWrite: time.Now()}, sub: sub, ended: ended}
	if w.Heartbeat != nil && w.HeartbeatEvery > 0 {
		s.l.timer = time.AfterFunc(w.HeartbeatEvery, func() {
			s.beat.Store(true)
			s.poke()
		})
	}
	sub.Notify(s.poke)
	s.poke() // what was queued before the hook was set
	return func() { s.finish(ErrStopped) }
}

type spawned struct {
	l     loop
	sub   *hub.Subscription
	ended func(error)
	state atomic.Int32
	beat  atomic.Bool // a heartbeat is due
	done  atomic.Bool
	once  sync.Once
}

func (s *spawned) poke() {
	for {
		st := s.state.Load()
		if st == writerAgain {
			return
		}
		if s.state.CompareAndSwap(st, st+1) {
			if st == writerIdle {
				go s.run()
			}
			return
		}
	}
}

func (s *spawned) run() {
	var batch []hub.Delivery
	for {
		s.state.Store(writerBusy)
		if s.done.Load() {
			return // stays busy: nothing starts again
		}
		select {
		case <-s.sub.Done():
			_, _ = s.l.send(s.sub.Drain(batch))
			s.finish(s.sub.Err())
			return
		default:
		}
		batch = s.sub.Drain(batch)
		if _, err := s.l.send(batch); err != nil {
			s.finish(err)
			return
		}
		clear(batch)
		if s.beat.Swap(false) {
			if err := s.l.heartbeat(); err != nil {
				s.finish(err)
				return
			}
		}
		if s.state.CompareAndSwap(writerBusy, writerIdle) {
			return
		}
	}
}

func (s *spawned) finish(err error) {
	s.once.Do(func() {
		s.done.Store(true)
		if s.l.timer != nil {
			s.l.timer.Stop()
		}
		s.ended(err)
	})
}
