package kit

import (
	"errors"
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
// the subscription's end, a failed write or heartbeat, ErrStopped, or a
// *PanicError for a panic in the writer's code, wherever it ran.
// sub must not be read by anyone else.
func (w *Writer) Spawn(sub *hub.Subscription, ended func(error)) (stop func()) {
	s := &spawned{l: loop{Writer: w, lastWrite: time.Now()}, sub: sub, ended: ended}
	s.start()
	return func() { s.finish(ErrStopped) }
}

// Output is the connection of a spawned writer whose Writer is shared by
// every connection of a transport (SpawnTo): the per-connection half of
// what the Writer's funcs say, as methods of the value that a transport
// holds for the connection anyway, so that an idle connection holds no
// closures and no copy of the Writer. Write replaces the Writer's Write,
// Ended is Spawn's ended. An Output may also have, each then used in
// place of the Writer's field of that name:
//
//	TryWrite(b []byte) (int, error)
//	SetWriteDeadline(t time.Time) error
//	Heartbeat() ([]byte, error)
type Output interface {
	Write(b []byte) error
	Ended(err error)
}

type (
	tryWriter interface {
		TryWrite(b []byte) (int, error)
	}
	writeDeadliner interface {
		SetWriteDeadline(t time.Time) error
	}
	heartbeater interface {
		Heartbeat() ([]byte, error)
	}
)

// Spawned is a writer started by SpawnTo.
type Spawned struct{ s *spawned }

// Stop ends the writer as Spawn's stop does: its Output's Ended gets
// ErrStopped unless it ended already.
func (h Spawned) Stop() { h.s.finish(ErrStopped) }

// SpawnTo is Spawn for a Writer shared by many connections, writing to
// out, which is told why the writer ended (Ended) instead of a func.
// w must not change afterwards.
func (w *Writer) SpawnTo(sub *hub.Subscription, out Output) Spawned {
	s := &spawned{l: loop{Writer: w, out: out, lastWrite: time.Now()}, sub: sub}
	s.start()
	return Spawned{s}
}

func (s *spawned) start() {
	if s.l.heartbeats() {
		s.l.timer = time.AfterFunc(s.l.HeartbeatEvery, s.heartbeatDue)
	}
	s.sub.Notify(s.poke)
	if s.l.tries() {
		s.sub.NotifyAfterPublish(s.wake)
	}
	s.poke() // what was queued before the hook was set
}

func (s *spawned) heartbeatDue() {
	s.beat.Store(true)
	s.poke()
}

type spawned struct {
	l     loop
	sub   *hub.Subscription
	ended func(error) // nil: l.out's Ended
	state atomic.Int32
	beat  atomic.Bool // a heartbeat is due
	done  atomic.Bool // finished: set once, by the first finish
	// rest is what a write from one of the hub's walkers (wake) left
	// unwritten, restMsgs the messages it ends; the writer goroutine
	// sends it before anything else. Owned by whoever holds writerBusy.
	rest     []byte
	restMsgs int
}

func (s *spawned) poke() {
	for {
		st := s.state.Load()
		if st == writerAgain {
			return
		}
		if s.state.CompareAndSwap(st, st+1) {
			if st == writerIdle {
				s.l.Workers.Go(s.run)
			}
			return
		}
	}
}

// wake is the hub's NotifyAfterPublish hook, called by one of its walkers:
// an idle writer's queue is written there and then if one non-blocking
// write takes it all; anything else (a writer already busy, a short
// write, the subscription's end) goes the way of poke.
func (s *spawned) wake() {
	defer s.recoverPanic()
	if !s.state.CompareAndSwap(writerIdle, writerBusy) {
		s.poke() // busy: have it go round again
		return
	}
	if s.done.Load() {
		return // stays busy: nothing starts again
	}
	if s.writeNow() && s.state.CompareAndSwap(writerBusy, writerIdle) {
		return
	}
	s.l.Workers.Go(s.run)
}

// writeNow sends what is queued with one TryWrite, reporting whether it
// all went; what did not is kept in rest. The caller holds writerBusy.
func (s *spawned) writeNow() bool {
	if s.sub.Ended() {
		return false // the writer goroutine sends the last words
	}
	var one [1]hub.Delivery // one message per publish is the common case
	batch := s.sub.Drain(one[:0])
	if len(batch) == 0 {
		return true
	}
	bp := outBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, d := range batch {
		buf = s.l.encode(buf, d)
	}
	s.l.lastWrite = time.Now()
	n, err := s.l.tryWrite(buf)
	if err == nil && n == len(buf) {
		s.l.Meter.Sent(len(batch))
	} else {
		s.rest = append([]byte(nil), buf[max(n, 0):]...)
		s.restMsgs = len(batch)
	}
	*bp = buf[:0]
	if cap(buf) <= maxPooledBuffer {
		outBuffers.Put(bp)
	}
	clear(batch)
	return s.rest == nil
}

// writeRest sends what writeNow left, blocking as any write does.
func (s *spawned) writeRest() error {
	if s.rest == nil {
		return nil
	}
	if err := s.l.write(s.rest); err != nil {
		return err
	}
	s.l.Meter.Sent(s.restMsgs)
	s.rest, s.restMsgs = nil, 0
	return nil
}

func (s *spawned) run() {
	defer s.recoverPanic()
	var batch []hub.Delivery
	if err := s.writeRest(); err != nil {
		s.finish(err)
		return
	}
	for {
		s.state.Store(writerBusy)
		if s.done.Load() {
			return // stays busy: nothing starts again
		}
		if err := s.sub.Err(); err != nil {
			_, _ = s.l.send(s.sub.Drain(batch))
			s.finish(err)
			return
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
		s.l.idle()
		if s.state.CompareAndSwap(writerBusy, writerIdle) {
			return
		}
	}
}

// recoverPanic, deferred by whatever runs the writer's code (a writer
// goroutine, a walker's wake), ends the writer on a panic: it stays busy,
// so nothing starts it again, and ended cleans up after it.
func (s *spawned) recoverPanic() {
	if err := s.l.recovered(recover()); err != nil {
		s.finish(err)
	}
}

func (s *spawned) finish(err error) {
	if !s.done.CompareAndSwap(false, true) {
		return
	}
	if s.l.timer != nil {
		s.l.timer.Stop()
	}
	if s.ended != nil {
		s.ended(err)
		return
	}
	s.l.out.Ended(err)
}
