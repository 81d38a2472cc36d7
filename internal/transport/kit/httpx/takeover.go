package httpx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/idlepoll"
	"streamhub/internal/transport/kit/sockconn"
)

// A streaming response on HTTP/1 holds, for as long as it lasts, the
// handler's goroutine (its stack grown deep on the way in), net/http's
// read and write buffers and the request's context: about 30 KB for an
// idle SSE subscriber. Taken over after its headers, the same subscriber
// is a socket and two small goroutines, as a WebSocket is after its
// upgrade; parked while idle (idlepoll), a socket and its subscription.
// HTTP/2 streams share their connection and keep net/http's path.

// TakeOver hijacks an HTTP/1 request's connection and writes the response
// head itself: status 200, the headers set on w, and Connection: close, the
// body then running to the end of the connection, with no chunked framing
// in the way. ok is false (and w untouched) where the connection cannot be
// taken: HTTP/2, or a ResponseWriter that does not hijack.
func TakeOver(w http.ResponseWriter, r *http.Request) (nc net.Conn, ok bool) {
	if r.ProtoMajor != 1 {
		return nil, false
	}
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, false
	}
	_ = nc.SetDeadline(time.Time{})
	head := rw.Writer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h := w.Header().Clone()
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_ = h.Write(head)
	head.WriteString("\r\n")
	if err := head.Flush(); err != nil {
		nc.Close()
		return nil, false
	}
	// Parked, a plain socket of ours holds its descriptor alone.
	return sockconn.Own(nc), true
}

// serveTakenOver serves a taken-over stream and returns at once, so that
// net/http's goroutine ends: a writer started only when there is
// something to send (kit.Writer.SpawnTo, wr shared by every stream of a
// transport) pumps sub into out, the connection's side of it, and the
// socket nc waits for the client to go away parked in lv's poller (no
// goroutine) or, with none, on one small goroutine. out's Ended, once,
// writes the protocol's last words, closes the socket, wakes lv and
// releases what the request held.
func serveTakenOver(sub *hub.Subscription, wr *kit.Writer, out kit.Output, nc net.Conn, lv *leaving) {
	lv.writer.Start(wr, sub, out)
	lv.watch(nc)
}

// leaving notices a taken-over stream's client going away. Nothing is
// expected from the client: any input, data or not, means it is gone or
// speaking out of turn, and stops the stream.
type leaving struct {
	idle   *idlepoll.Handle // nil: a goroutine waits reading
	writer kit.Spawner      // the stream's writer, stopped when the client leaves
}

func (lv *leaving) stop() { lv.writer.Stop() }

// register registers nc with poller (nil: none), before the stream's
// writer starts, so that the writer's end can wake the parked socket.
func (lv *leaving) register(nc net.Conn, poller *idlepoll.Poller) {
	if poller != nil {
		if rc := idlepoll.Socket(nc); rc != nil {
			lv.idle, _ = poller.Register(rc, lv.left)
		}
	}
}

// watch parks the socket until the client sends or hangs up (EPOLLRDHUP),
// or, where it cannot be parked, waits on a goroutine reading one byte.
func (lv *leaving) watch(nc net.Conn) {
	if lv.idle != nil {
		var b [1]byte
		// A TLS record already read holds input the socket no longer shows.
		n, err := idlepoll.ReadAhead(nc, b[:])
		if n > 0 || err != nil {
			lv.left()
			return
		}
		if lv.idle.Park(time.Time{}) == nil {
			return
		}
		lv.idle.Release() // a Wake finds it released: the goroutine below sees the end
	}
	go func() {
		var b [1]byte
		_, _ = nc.Read(b[:])
		lv.stop()
	}()
}

// takenOver is one HTTP/1 stream after its takeover, the kit.Output of
// its writer: everything an idle stream holds besides its socket and its
// subscription is this value (the Stream's Writer is shared), a part of
// its Subscription.
type takenOver struct {
	nc       net.Conn
	raw      syscall.RawConn // a plain socket's (rawTakenOver), else nil
	sub      *Subscription
	st       *Stream
	outlived *sync.WaitGroup // nil: nobody waits for it
	lv       leaving
}

func (t *takenOver) Write(b []byte) error {
	_, err := t.nc.Write(b)
	return err
}

func (t *takenOver) SetWriteDeadline(at time.Time) error { return t.nc.SetWriteDeadline(at) }

// Ended writes the last words of a subscription that ended (not of a
// stream stopped because its client went), closes the socket and
// releases what the request held.
func (t *takenOver) Ended(err error) {
	if !errors.Is(err, kit.ErrStopped) {
		if end := kit.EndOf(err); end != kit.EndClosed {
			_ = t.nc.SetWriteDeadline(time.Now().Add(t.st.writer.WriteTimeout + time.Second))
			_ = t.Write(t.st.closing(end, t.nc.RemoteAddr().String()))
		}
	}
	t.nc.Close()
	t.lv.wakeParked()
	t.release()
}

func (t *takenOver) release() {
	t.sub.Close()
	if t.outlived != nil {
		t.outlived.Done()
	}
}

// rawTakenOver is a takenOver on a plain socket, which the hub's walkers
// write to without blocking (kit.Writer.TryWrite): the same value, seen
// as an Output with TryWrite.
type rawTakenOver takenOver

func (t *rawTakenOver) TryWrite(b []byte) (int, error)      { return kit.WriteNow(t.raw, b) }
func (t *rawTakenOver) Write(b []byte) error                { return (*takenOver)(t).Write(b) }
func (t *rawTakenOver) SetWriteDeadline(at time.Time) error { return t.nc.SetWriteDeadline(at) }
func (t *rawTakenOver) Ended(err error)                     { (*takenOver)(t).Ended(err) }

// left stops the stream and releases the registration: the parked
// socket's wake function (the client sent or went, or the writer ended
// and closed the socket).
func (lv *leaving) left() {
	lv.stop()
	lv.idle.Release()
}

// wakeParked has a parked socket see that the stream ended.
func (lv *leaving) wakeParked() {
	if lv.idle != nil {
		lv.idle.Wake()
	}
}

type longLivedKey struct{}

// WithLongLived marks a request whose handler may hand its connection to
// goroutines that outlive it (TakeOver): graceful shutdown waits for wg,
// which counts them.
func WithLongLived(r *http.Request, wg *sync.WaitGroup) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), longLivedKey{}, wg))
}

// outlive counts work that goes on after r's handler returns, until the
// returned group's Done (nil: nobody counts it).
func outlive(r *http.Request) *sync.WaitGroup {
	wg, _ := r.Context().Value(longLivedKey{}).(*sync.WaitGroup)
	if wg != nil {
		wg.Add(1)
	}
	return wg
}

// Stream is what the subscribers of one streaming transport (SSE, NDJSON)
// share: its writer, heartbeat and last words, made once, so that an idle
// subscriber holds no copy of them.
type Stream struct {
	writer    kit.Writer // Heartbeat and HeartbeatEvery set; never changed after NewStream
	heartbeat []byte
	idle      time.Duration
	closing   func(end kit.EndReason, remote string) []byte
	poller    *idlepoll.Poller // parks taken-over sockets (nil: a goroutine waits)
}

// NewStream prepares a transport's streams: wr with its codec (Encode and
// the rest but the connection's own Write, TryWrite and write deadline),
// heartbeat bytes written after idle without traffic (15 s when idle is
// not set), and closing, the last words for a subscription that ended
// (shutdown, kicked, slow consumer), told the client's address for a log;
// poller parks the sockets of idle streams (nil: a goroutine waits for
// the client to leave).
func NewStream(wr kit.Writer, heartbeat []byte, idle time.Duration, closing func(end kit.EndReason, remote string) []byte,
	poller *idlepoll.Poller) *Stream {
	if idle <= 0 {
		idle = 15 * time.Second
	}
	st := &Stream{writer: wr, heartbeat: heartbeat, idle: idle, closing: closing, poller: poller}
	if heartbeat != nil {
		st.writer.Heartbeat = st.heartbeatBytes
		st.writer.HeartbeatEvery = idle
		st.writer.Heartbeats = kit.NewHeartbeats(idle)
	}
	return st
}

func (st *Stream) heartbeatBytes() ([]byte, error) { return st.heartbeat, nil }

// Serve streams sub to the client after open (the stream's first bytes):
// on HTTP/1 from the taken-over connection, returning at once; on HTTP/2
// through net/http, returning when the stream ends. Serve owns sub from
// then on and closes it once the stream is over, whichever way.
func (st *Stream) Serve(w http.ResponseWriter, r *http.Request, sub *Subscription, open []byte) {
	sub.served = true
	if nc, ok := TakeOver(w, r); ok {
		t := sub.out
		if t == nil { // not a streaming transport's subscriber
			t = new(takenOver)
		}
		*t = takenOver{nc: nc, raw: kit.RawSocket(nc), sub: sub, st: st, outlived: outlive(r)}
		var out kit.Output = t
		if t.raw != nil {
			out = (*rawTakenOver)(t)
		}
		if _, err := nc.Write(open); err != nil {
			nc.Close()
			t.release()
			return
		}
		// Registered before the writer starts, so that its end wakes
		// the parked socket.
		t.lv.register(nc, st.poller)
		serveTakenOver(sub.Subscription, &st.writer, out, nc, &t.lv)
		return
	}
	defer sub.Close()
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(open); err != nil {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	end := kit.EndOf(Pump(r.Context(), w, sub.Subscription, st.writer, st.heartbeat, st.idle))
	if end == kit.EndClosed {
		return
	}
	_, _ = w.Write(st.closing(end, r.RemoteAddr))
	_ = rc.Flush()
}
