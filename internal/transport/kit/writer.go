package kit

import (
	"context"
	"sync"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/ratelog"
	"streamhub/internal/transport/kit/deadline"
)

// Writer is the outbound side every transport shares: it drains a
// subscription, encodes everything queued into one buffer and sends it with
// one write, moves the write deadline lazily, sends heartbeats while idle,
// and returns why it stopped so the transport can close in its protocol's
// words (see EndOf). A transport supplies the codec (Encode) and the
// framing of its connection (Write).
type Writer struct {
	// Workers, when set, runs Spawn's writers on goroutines that keep
	// their grown stacks between bursts (nil: a new goroutine each).
	Workers *Workers
	// Encode appends one delivery's wire bytes to buf.
	Encode func(buf []byte, d hub.Delivery) []byte
	// Write sends one batch: one write (and flush, where there is one).
	Write func(b []byte) error
	// SetWriteDeadline, when set, gets the write deadline WriteTimeout
	// ahead, moved at most once per quarter span. Leave it nil when Write
	// moves its own, as a connection written from several goroutines must.
	SetWriteDeadline func(time.Time) error
	WriteTimeout     time.Duration
	// DeadlineFiresIdle says the connection acts on a write deadline that
	// passes while nothing is being written: net/http resets an HTTP/2
	// stream then, where a socket only fails a write in progress. The
	// loop then clears the deadline each time it has written all it
	// holds, so that on every connection idle time never counts against
	// WriteTimeout: only a write that does not go through does.
	DeadlineFiresIdle bool
	// TryWrite, when set, writes what it can of b without waiting (a plain
	// socket written with one non-blocking syscall) and returns how much it
	// wrote; an error or a short count leaves the rest to Write. Spawn
	// then writes to an idle connection from the hub's walkers
	// (hub.Subscription.NotifyAfterPublish), with no goroutine of its own.
	TryWrite func(b []byte) (int, error)
	// MaxWrite splits a batch into writes of about this many bytes, so that
	// a failed write loses little (0: the whole batch in one write).
	MaxWrite int
	// Heartbeat, when set, returns the bytes to send after HeartbeatEvery
	// without a write (every HeartbeatEvery with Steady), or an error that
	// ends the loop (a peer found dead).
	Heartbeat      func() ([]byte, error)
	HeartbeatEvery time.Duration
	Steady         bool
	// Heartbeats, when set, is where spawned writers (Spawn, SpawnTo)
	// wait for their heartbeats, a wheel shared by the writers of a
	// transport, instead of a timer each (see Heartbeats for its
	// precision).
	Heartbeats *Heartbeats
	Meter      Meter
	// Check, when set, sees each delivery before Encode does: a panic in
	// it is the encoder's (EncodeCheck).
	Check EncodeCheck
	// Log reports a panic in the writer's code (nil: slog's default
	// logger), which ends only this writer's subscriber.
	Log *ratelog.Logger
}

// outBuffers lends encoding buffers to writers with something to send, so
// that an idle connection holds none.
var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxPooledBuffer: an occasional huge batch's buffer is not kept.
const maxPooledBuffer = 64 << 10

// EncodeCheck sees a delivery before a Writer encodes it. Production
// leaves it nil; TestTransportConformance sets one on a server
// (server.WithEncodeCheck, passed to every transport's config) that makes
// one chosen message's encoding panic, to see that the panic ends only
// its own connection on every transport.
type EncodeCheck func(hub.Delivery)

// encode appends one delivery with the transport's Encode.
func (w *Writer) encode(buf []byte, d hub.Delivery) []byte {
	if w.Check != nil {
		w.Check(d)
	}
	return w.Encode(buf, d)
}

// MessagePerWrite is the MaxWrite of a transport that carries messages,
// not a byte stream (a WebRTC data channel): each Write gets one
// delivery's bytes.
const MessagePerWrite = 1

// BulkWrite is a MaxWrite for subscribers that read in bulk: a replay
// hands a writer a page of a thousand messages at a time, and one write of
// it all would grow a buffer past maxPooledBuffer for every page; writes of
// this size reuse one pooled buffer.
const BulkWrite = maxPooledBuffer / 2

// Run writes pending, then drains sub until ctx ends, the subscription
// ends or a write fails. When the subscription ends it first writes what
// was still queued (a shutdown's last messages; a slow consumer's queue is
// already gone) and returns sub.Err(); a failed write returns the error
// and the deliveries not written, so a dialler can send them on its next
// connection. A panic in the loop (an encoder's) returns a *PanicError.
func (w *Writer) Run(ctx context.Context, sub *hub.Subscription, pending []hub.Delivery) (rest []hub.Delivery, err error) {
	defer func() {
		if perr := w.recovered(recover()); perr != nil {
			rest, err = nil, perr
		}
	}()
	l := loop{Writer: w, lastWrite: monoNow()}
	if rest, err := l.send(pending); err != nil {
		return rest, err
	}
	var tick <-chan time.Time
	var timer *time.Timer
	if w.Heartbeat != nil && w.HeartbeatEvery > 0 {
		// Not re-armed per write: when it fires early it waits out the
		// rest of the idle span since the last write.
		timer = time.NewTimer(w.HeartbeatEvery)
		defer timer.Stop()
		tick = timer.C
	}
	var batch []hub.Delivery
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sub.Done():
			_, _ = l.send(sub.Drain(batch))
			return nil, sub.Err()
		case <-sub.Ready():
			batch = sub.Drain(batch)
			if rest, err := l.send(batch); err != nil {
				return append([]hub.Delivery(nil), rest...), err
			}
			clear(batch)
			l.idle()
		case <-tick:
			next, err := l.heartbeat()
			if err != nil {
				return nil, err
			}
			timer.Reset(next)
			l.idle()
		}
	}
}

// AppendBatch appends batch to buf with Encode, for a transport that
// answers once instead of streaming (a long poll): what the loop does
// before a write, a panic in Encode returned as a *PanicError.
func (w *Writer) AppendBatch(buf []byte, batch []hub.Delivery) (out []byte, err error) {
	defer func() {
		if perr := w.recovered(recover()); perr != nil {
			out, err = nil, perr
		}
	}()
	for _, d := range batch {
		buf = w.encode(buf, d)
	}
	return buf, nil
}

// loop is one Run's state.
type loop struct {
	*Writer
	out       Output // nil: the Writer's funcs (see Output)
	writeDL   deadline.Lazy
	lastWrite int64 // monoNow
}

// put, tryWrite, setWriteDeadline and beat are the Output's methods of
// those names or, where it has none (or there is no Output), the
// Writer's funcs.
func (l *loop) put(b []byte) error {
	if l.out != nil {
		return l.out.Write(b)
	}
	return l.Write(b)
}

func (l *loop) tries() bool {
	_, ok := l.out.(tryWriter)
	return ok || l.TryWrite != nil
}

// triesBeat reports whether a heartbeat can be sent without waiting
// (beatTrier, or TryWrite).
func (l *loop) triesBeat() bool {
	_, ok := l.out.(beatTrier)
	return ok || l.tries()
}

func (l *loop) tryWrite(b []byte) (int, error) {
	return l.writeDL.Try(l.setWriteDeadline, func() (int, error) { return l.tryWriteOnce(b) })
}

func (l *loop) tryWriteOnce(b []byte) (int, error) {
	if t, ok := l.out.(tryWriter); ok {
		return t.TryWrite(b)
	}
	return l.TryWrite(b)
}

func (l *loop) hasWriteDeadline() bool {
	_, ok := l.out.(writeDeadliner)
	return ok || l.SetWriteDeadline != nil
}

func (l *loop) setWriteDeadline(at time.Time) error {
	if d, ok := l.out.(writeDeadliner); ok {
		return d.SetWriteDeadline(at)
	}
	return l.SetWriteDeadline(at)
}

func (l *loop) heartbeats() bool {
	if l.HeartbeatEvery <= 0 {
		return false
	}
	_, ok := l.out.(heartbeater)
	return ok || l.Heartbeat != nil
}

func (l *loop) beat() ([]byte, error) {
	if h, ok := l.out.(heartbeater); ok {
		return h.Heartbeat()
	}
	return l.Heartbeat()
}

func (l *loop) write(b []byte) error {
	now := time.Now()
	l.lastWrite = monoNow()
	if l.hasWriteDeadline() {
		if at, set := l.writeDL.Next(now, l.WriteTimeout); set {
			l.setWriteDeadline(at)
		}
	}
	return l.put(b)
}

// idle is called when everything in hand is written: where an expired
// deadline would end an idle connection, it is cleared (and set again by
// the next write).
func (l *loop) idle() {
	if !l.DeadlineFiresIdle || !l.hasWriteDeadline() {
		return
	}
	if at, set := l.writeDL.Next(time.Time{}, 0); set {
		l.setWriteDeadline(at)
	}
}

// send encodes batch into a borrowed buffer and writes it, in slices of
// MaxWrite bytes when set, returning what was not written on failure.
func (l *loop) send(batch []hub.Delivery) ([]hub.Delivery, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	bp := outBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuffer {
			*bp = (*bp)[:0]
			outBuffers.Put(bp)
		}
	}()
	for len(batch) > 0 {
		buf, n := (*bp)[:0], 0
		for n < len(batch) && (n == 0 || l.MaxWrite <= 0 || len(buf) < l.MaxWrite) {
			buf = l.encode(buf, batch[n])
			n++
		}
		*bp = buf
		if err := l.write(buf); err != nil {
			return batch, err
		}
		l.Meter.Sent(n)
		batch = batch[n:]
	}
	return nil, nil
}

// heartbeat sends a heartbeat if one is due (HeartbeatEvery since the
// last write, or since the last heartbeat with Steady) and returns when
// to look again.
func (l *loop) heartbeat() (next time.Duration, err error) {
	if quiet := time.Duration(monoNow() - l.lastWrite); !l.Steady && quiet < l.HeartbeatEvery {
		return l.HeartbeatEvery - quiet, nil
	}
	b, err := l.beat()
	if err != nil {
		return 0, err
	}
	return l.HeartbeatEvery, l.write(b)
}
