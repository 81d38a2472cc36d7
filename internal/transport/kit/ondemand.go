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
	s := &spawned{}
	s.begin(w, sub, endedFunc{w, ended})
	return func() { s.finish(ErrStopped) }
}

// endedFunc is Spawn's Output: the Writer's funcs, and ended.
type endedFunc struct {
	w     *Writer
	ended func(error)
}

func (e endedFunc) Write(b []byte) error { return e.w.Write(b) }
func (e endedFunc) Ended(err error)      { e.ended(err) }

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
	// beatTrier sends a heartbeat without waiting, all of it or none
	// (false), for an Output whose writes cannot be cut short between
	// two writers (a WebSocket's frames: its reader writes pongs).
	beatTrier interface {
		TrySend(b []byte) (bool, error)
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
	var sp Spawner
	sp.Start(w, sub, out)
	return Spawned{&sp.s}
}

// Spawner is SpawnTo's writer held in the connection's own state rather
// than allocated apart: Start it once, Stop it as Spawned's Stop. It
// must not move once started.
type Spawner struct{ s spawned }

// Start starts the writer as SpawnTo does.
func (sp *Spawner) Start(w *Writer, sub *hub.Subscription, out Output) { sp.s.begin(w, sub, out) }

// Stop ends the writer as Spawned's Stop does.
func (sp *Spawner) Stop() { sp.s.finish(ErrStopped) }

func (s *spawned) begin(w *Writer, sub *hub.Subscription, out Output) {
	s.l = loop{Writer: w, out: out, lastWrite: monoNow()}
	s.sub = sub
	if s.l.heartbeats() {
		s.waitHeartbeat(s.l.HeartbeatEvery)
	}
	s.sub.Notify(s.poke)
	if s.l.tries() {
		s.sub.NotifyAfterPublish(s.wake)
	}
	s.poke() // what was queued before the hook was set
}

// waitHeartbeat has the next heartbeat check come after d: in the
// Writer's wheel (Heartbeats), or on a timer of the writer's own.
func (s *spawned) waitHeartbeat(d time.Duration) {
	if b := s.l.Heartbeats; b != nil {
		b.add(s, monoNow()+int64(d))
		if s.done.Load() { // finish ran meanwhile, maybe before the add
			b.remove(s)
		}
		return
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.heartbeatDue)
		return
	}
	s.timer.Reset(d)
}

// heartbeatDue is called by the wheel's walk (or the writer's own timer)
// when a heartbeat is due. An idle writer whose socket takes a
// non-blocking write sends it there and then, as wake does for messages:
// a wheel walk that started a goroutine for each of thousands of idle
// connections left each goroutine's stack in the process's memory (idle
// WebSockets grew from 2.3 to 7 KB each after their first pings).
func (s *spawned) heartbeatDue() {
	defer s.recoverPanic()
	if s.l.triesBeat() && s.state.CompareAndSwap(writerIdle, writerBusy) {
		if s.done.Load() {
			return // stays busy: nothing starts again
		}
		if s.beatNow() && s.state.CompareAndSwap(writerBusy, writerIdle) {
			return
		}
		s.l.Workers.Go(s.run)
		return
	}
	s.beat.Store(true)
	s.poke()
}

// beatNow sends a due heartbeat with one TryWrite and waits for the next,
// reporting whether that is all there was to do; what a short write left
// is kept in rest, and anything else (a heartbeat that fails, the
// subscription's end) is the writer goroutine's. The caller holds
// writerBusy.
func (s *spawned) beatNow() bool {
	if s.sub.Ended() {
		return false
	}
	if quiet := time.Duration(monoNow() - s.l.lastWrite); !s.l.Steady && quiet < s.l.HeartbeatEvery {
		s.waitHeartbeat(s.l.HeartbeatEvery - quiet)
		return true
	}
	b, err := s.l.beat()
	if err != nil {
		s.beat.Store(true) // the writer's heartbeat meets the error and ends
		return false
	}
	s.l.lastWrite = monoNow()
	s.waitHeartbeat(s.l.HeartbeatEvery)
	if t, ok := s.l.out.(beatTrier); ok {
		sent, err := t.TrySend(b)
		if !sent || err != nil {
			s.rest = &unwritten{b: append([]byte(nil), b...)}
		}
		return sent && err == nil
	}
	n, err := s.l.tryWrite(b)
	if err == nil && n == len(b) {
		return true
	}
	s.rest = &unwritten{b: append([]byte(nil), b[max(n, 0):]...)}
	return false
}

// spawned is a writer between bursts: what an idle connection holds of
// it, kept small (monoNow times, the rest of a short write behind a
// pointer, the heartbeat an entry in a shared wheel).
type spawned struct {
	l     loop
	sub   *hub.Subscription
	state atomic.Int32
	beat  atomic.Bool // a heartbeat is due
	done  atomic.Bool // finished: set once, by the first finish
	// rest is what a write from one of the hub's walkers (wake) left
	// unwritten; the writer goroutine sends it before anything else.
	// Owned by whoever holds writerBusy.
	rest *unwritten
	// The heartbeat's wait: an entry of the Writer's Heartbeats (prev,
	// next and the tick it is due, guarded by the wheel's lock), or a
	// timer of its own where the Writer has none.
	prev, next *spawned
	due        int64
	timer      *time.Timer
}

// unwritten is what a walker's write left: the bytes, and how many
// messages they end.
type unwritten struct {
	b    []byte
	msgs int
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
	s.l.lastWrite = monoNow()
	n, err := s.l.tryWrite(buf)
	if err == nil && n == len(buf) {
		s.l.Meter.Sent(len(batch))
	} else {
		s.rest = &unwritten{b: append([]byte(nil), buf[max(n, 0):]...), msgs: len(batch)}
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
	if err := s.l.write(s.rest.b); err != nil {
		return err
	}
	s.l.Meter.Sent(s.rest.msgs)
	s.rest = nil
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
			next, err := s.l.heartbeat()
			if err != nil {
				s.finish(err)
				return
			}
			s.waitHeartbeat(next)
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
	if b := s.l.Heartbeats; b != nil {
		b.remove(s)
	} else if s.timer != nil {
		s.timer.Stop()
	}
	s.l.out.Ended(err)
}
