package httpx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/idlepoll"
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
	return nc, true
}

// ServeTakenOver serves a taken-over stream and returns at once, so that
// net/http's goroutine ends: a writer started only when there is
// something to send (kit.Writer.Spawn) pumps sub into nc with wr
// (heartbeat bytes every idle), and the socket waits for the client to go
// away parked in poller (no goroutine), or, with no poller, on one small
// goroutine. end, when set, gets why the stream ended and writes the
// protocol's last words; then nc is closed and done releases what the
// request held.
func ServeTakenOver(nc net.Conn, sub *hub.Subscription, wr kit.Writer, heartbeat []byte, idle time.Duration,
	end func(err error, write func([]byte) error), done func(), poller *idlepoll.Poller) {
	wr.Write = func(b []byte) error {
		_, err := nc.Write(b)
		return err
	}
	wr.SetWriteDeadline = nc.SetWriteDeadline
	if raw := kit.RawSocket(nc); raw != nil {
		wr.TryWrite = func(b []byte) (int, error) { return kit.WriteNow(raw, b) }
	}
	if heartbeat != nil {
		wr.Heartbeat = func() ([]byte, error) { return heartbeat, nil }
		wr.HeartbeatEvery = idle
		if idle <= 0 {
			wr.HeartbeatEvery = 15 * time.Second
		}
	}
	lv := newLeaving(nc, poller)
	lv.stop = wr.Spawn(sub, func(err error) {
		if end != nil && !errors.Is(err, kit.ErrStopped) {
			_ = nc.SetWriteDeadline(time.Now().Add(wr.WriteTimeout + time.Second))
			end(err, wr.Write)
		}
		nc.Close()
		lv.wakeParked()
		done()
	})
	lv.watch()
}

// leaving notices a taken-over stream's client going away. Nothing is
// expected from the client: any input, data or not, means it is gone or
// speaking out of turn, and stops the stream.
type leaving struct {
	nc   net.Conn
	idle *idlepoll.Handle // nil: a goroutine waits reading
	stop func()
}

// newLeaving registers nc with poller (nil: none), before the stream's
// writer starts, so that the writer's end can wake the parked socket.
func newLeaving(nc net.Conn, poller *idlepoll.Poller) *leaving {
	lv := &leaving{nc: nc}
	if poller != nil {
		if rc := idlepoll.Socket(nc); rc != nil {
			lv.idle, _ = poller.Register(rc, lv.left)
		}
	}
	return lv
}

// watch parks the socket until the client sends or hangs up (EPOLLRDHUP),
// or, where it cannot be parked, waits on a goroutine reading one byte.
func (lv *leaving) watch() {
	if lv.idle != nil {
		var b [1]byte
		// A TLS record already read holds input the socket no longer shows.
		n, err := idlepoll.ReadAhead(lv.nc, b[:])
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
		_, _ = lv.nc.Read(b[:])
		lv.stop()
	}()
}

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

// Outlive counts work that goes on after r's handler returns, until the
// returned func is called.
func Outlive(r *http.Request) (done func()) {
	wg, _ := r.Context().Value(longLivedKey{}).(*sync.WaitGroup)
	if wg == nil {
		return func() {}
	}
	wg.Add(1)
	return wg.Done
}

// Serve streams sub to the client after open (the stream's first bytes),
// with heartbeat bytes every idle: on HTTP/1 from the taken-over
// connection, returning at once; on HTTP/2 through net/http, returning
// when the stream ends. closing gives the last words for a subscription
// that ended (shutdown, kicked, slow consumer). Serve owns sub from then
// on and closes it once the stream is over, whichever way.
func Serve(w http.ResponseWriter, r *http.Request, sub *Subscription, open []byte, wr kit.Writer,
	heartbeat []byte, idle time.Duration, closing func(kit.EndReason) []byte) {
	sub.served = true
	if nc, ok := TakeOver(w, r); ok {
		outlived := Outlive(r)
		done := func() { sub.Close(); outlived() }
		if _, err := nc.Write(open); err != nil {
			nc.Close()
			done()
			return
		}
		ServeTakenOver(nc, sub.Subscription, wr, heartbeat, idle, func(err error, write func([]byte) error) {
			if end := kit.EndOf(err); end != kit.EndClosed {
				_ = write(closing(end))
			}
		}, done, sub.idle)
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
	end := kit.EndOf(Pump(r.Context(), w, sub.Subscription, wr, heartbeat, idle))
	if end == kit.EndClosed {
		return
	}
	_, _ = w.Write(closing(end))
	_ = rc.Flush()
}
