// Package wsconn is the server side of a WebSocket, shared by the
// transports that speak it (/v1/ws and MQTT over WebSocket on /mqtt): the
// upgrade, a frame reader that answers pings and the close handshake, frame
// writers that send a batch in one write, and NetConn, which carries a byte
// stream (MQTT) in binary messages.
package wsconn

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"streamhub/internal/quote"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/deadline"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/kit/idlepoll"
	"streamhub/internal/transport/kit/sockconn"
)

// Frames go through gobwas/ws's codec into a buffer that is flushed once
// per batch, so a subscriber that has several messages waiting gets them in
// one write. (A library that flushes every frame, as coder/websocket does,
// made each message to each subscriber a syscall of its own: bench/sse.sh
// measured 9.5 µs of server CPU per delivery against 3.4 µs for SSE on the
// same load.)

// closeWait bounds the wait for the peer's answer to our close frame.
const closeWait = 5 * time.Second

// maxCloseReason leaves room for quote.Truncate's "…" in a close frame's
// 123 bytes of reason.
const maxCloseReason = 120

// ErrClosed is returned by Read once the close handshake happened.
var ErrClosed = errors.New("websocket closed")

// Conn is one accepted WebSocket. One goroutine reads (Read); any number
// write (WriteFrame, WriteEncoded, Close), serialised by mu.
type Conn struct {
	nc        net.Conn
	in        activityReader // in.r is nil while a Serve-d socket waits; it reads (*pendingByte)(c)
	served    Served         // set by Serve
	onWait    func()         // tests: runs on the reader as a wait begins
	readLimit int64
	// idle is the socket's registration with the idle poller while Serve
	// runs it (nil: a goroutine waits for input); closing paths wake it.
	idle   atomic.Pointer[idlepoll.Handle]
	lastIn atomic.Int64 // in.last: when bytes last arrived, unix nanoseconds

	mu           sync.Mutex // guards the writing side
	writeDL      deadline.Lazy
	writeTimeout time.Duration
	// closeSent is set under mu; the reader reads it before parking.
	closeSent atomic.Bool
	// pending is the byte a wait read (held), for the next read.
	pending [1]byte
	held    bool
}

// Options tune an upgrade.
type Options struct {
	// WriteTimeout bounds each write (zero: the caller sets the socket's
	// write deadlines itself, as NetConn's user does).
	WriteTimeout time.Duration
	// Protocols are the subprotocols accepted, the first the client offers
	// is chosen; none: no subprotocol is negotiated.
	Protocols []string
	// Header is sent with the upgrade's answer (plain sockets tell a
	// resume's gap there, having no message of their own to say it).
	Header http.Header
}

// Upgrade accepts the request's WebSocket upgrade, answering a refusal
// itself (426 with a JSON error body). The server checked its Origin
// (httpx.Origins) before.
func Upgrade(w http.ResponseWriter, r *http.Request, opts Options) (*Conn, error) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		httpx.WriteError(w, http.StatusUpgradeRequired, "upgrade_required", "this endpoint speaks WebSocket")
		return nil, errors.New("not a websocket request")
	}
	// The upgrade's answer is bounded even when later writes are the
	// caller's to bound.
	up := ws.HTTPUpgrader{Timeout: cmp.Or(opts.WriteTimeout, closeWait), Header: opts.Header}
	if len(opts.Protocols) > 0 {
		up.Protocol = func(p string) bool { return slices.Contains(opts.Protocols, p) }
	}
	nc, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	// net/http's 4 KiB buffers go: the socket borrows a small read buffer
	// when input arrives (frames larger than it are read straight into
	// their payload), and writes borrow a buffer per batch.
	br := rw.Reader
	if br.Buffered() == 0 {
		br = nil
		// Parked, a plain socket of ours holds its descriptor alone
		// (with early bytes buffered, br reads through the one it has).
		nc = sockconn.Own(nc)
	}
	return New(nc, br, opts.WriteTimeout), nil
}

// New wraps a socket whose upgrade is done; br reads from it (and may hold
// bytes that arrived with the upgrade request), nil: the socket borrows a
// reader when it reads.
func New(nc net.Conn, br *bufio.Reader, writeTimeout time.Duration) *Conn {
	c := &Conn{nc: nc, in: activityReader{r: br}, writeTimeout: writeTimeout}
	c.in.last = &c.lastIn
	c.in.touch()
	return c
}

// smallReaders lends read buffers to sockets with input: a socket served by
// Serve gives its buffer back when it waits again, so that an idle socket
// holds none (it waits reading one byte into pendingByte).
var smallReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, smallRead) }}

// borrowReader gives the socket a read buffer if it has none.
func (c *Conn) borrowReader() {
	if c.in.r == nil {
		c.in.r = smallReaders.Get().(*bufio.Reader)
		c.in.r.Reset((*pendingByte)(c))
	}
}

// returnReader gives an empty read buffer back (the upgrade's, which held
// early bytes, is only dropped: its size is net/http's).
func (c *Conn) returnReader() {
	if c.in.r == nil || c.in.r.Buffered() > 0 {
		return
	}
	if c.in.r.Size() == smallRead {
		c.in.r.Reset(nil)
		smallReaders.Put(c.in.r)
	}
	c.in.r = nil
}

// pendingByte is a Conn read as the stream of its socket's bytes after
// the byte a wait read, if any (Conn.pending): its borrowed reader's
// source.
type pendingByte Conn

func (p *pendingByte) Read(q []byte) (int, error) {
	if !p.held || len(q) == 0 {
		return p.nc.Read(q)
	}
	p.held = false
	q[0] = p.pending[0]
	if len(q) == 1 {
		return 1, nil
	}
	// A frame is at least two bytes, so the rest of the one whose first
	// byte ended the wait is on its way: reading it now does not wait on
	// a peer that sent one byte alone, and saves the reader a round.
	n, err := p.nc.Read(q[1:])
	return 1 + n, err
}

// activityReader notes when bytes last arrived, so that the writer can tell
// a live peer, which answers pings, from one that stopped sending (in
// particular mid-frame, where the reader waits for the rest).
type activityReader struct {
	r    *bufio.Reader
	last *atomic.Int64 // unix nanoseconds
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.touch()
	}
	return n, err
}

func (a activityReader) touch() { a.last.Store(time.Now().UnixNano()) }

// SetReadLimit bounds a message's size; a larger one closes the socket
// with 1009. Set it before the first Read.
func (c *Conn) SetReadLimit(n int64) { c.readLimit = n }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SilentFor is how long nothing has arrived from the peer.
func (c *Conn) SilentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.in.last.Load()))
}

const smallRead = 256

// outBuffers lends write buffers to sockets with frames to send.
var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// Read returns the next data message, answering pings and the close
// handshake on the way. Oversized or malformed input closes the connection
// with the matching status code.
func (c *Conn) Read() (ws.OpCode, []byte, error) { return c.read(false) }

// errOnlyControl is read's answer, when asked to stop there, once the input
// in memory held control frames only: the burst ends and the socket parks
// (a client answering each ping with a pong would otherwise keep a
// goroutine waiting in Read for its next message, every idle socket one
// after the first ping).
var errOnlyControl = errors.New("websocket: control frames only")

func (c *Conn) read(stopAtControl bool) (ws.OpCode, []byte, error) {
	var op ws.OpCode
	var msg []byte
	c.borrowReader()
	for {
		hdr, err := ws.ReadHeader(c.in)
		if err != nil {
			return 0, nil, err
		}
		switch {
		case !hdr.Masked:
			return 0, nil, c.fail(ws.StatusProtocolError, "client frames must be masked")
		case hdr.Rsv != 0:
			return 0, nil, c.fail(ws.StatusProtocolError, "no extension was negotiated")
		case hdr.Length < 0:
			return 0, nil, c.fail(ws.StatusProtocolError, "bad frame length")
		case hdr.OpCode.IsControl() && (hdr.Length > 125 || !hdr.Fin):
			return 0, nil, c.fail(ws.StatusProtocolError, "bad control frame")
		case !hdr.OpCode.IsControl() && int64(len(msg))+hdr.Length > c.readLimit:
			return 0, nil, c.fail(ws.StatusMessageTooBig, fmt.Sprintf("message over %d bytes", c.readLimit))
		}
		payload, err := readPayload(c.in, hdr.Length)
		if err != nil {
			return 0, nil, err
		}
		ws.Cipher(payload, hdr.Mask, 0)
		switch hdr.OpCode {
		case ws.OpPing:
			if err := c.WriteFrame(ws.OpPong, payload); err != nil {
				return 0, nil, err
			}
			if stopAtControl && op == 0 && !c.inputReady() {
				return 0, nil, errOnlyControl
			}
		case ws.OpPong:
			if stopAtControl && op == 0 && !c.inputReady() {
				return 0, nil, errOnlyControl
			}
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(payload)
			c.Close(code, "")
			return 0, nil, ErrClosed
		case ws.OpText, ws.OpBinary:
			if op != 0 {
				return 0, nil, c.fail(ws.StatusProtocolError, "new message inside a fragmented one")
			}
			if hdr.Fin {
				return hdr.OpCode, payload, nil
			}
			op, msg = hdr.OpCode, payload
		case ws.OpContinuation:
			if op == 0 {
				return 0, nil, c.fail(ws.StatusProtocolError, "continuation without a message")
			}
			msg = append(msg, payload...)
			if hdr.Fin {
				return op, msg, nil
			}
		default:
			return 0, nil, c.fail(ws.StatusProtocolError, "unknown opcode")
		}
	}
}

// Served is what Serve hands a socket's messages to. (One value rather
// than two closures: an idle socket holds it, and 15,000 of them add up.)
type Served interface {
	// Message handles one data message; false ends reading.
	Message(op ws.OpCode, data []byte) bool
	// End runs once, when reading has ended.
	End()
}

// Serve reads the socket's data messages and hands each to s until reading
// fails or s refuses one, then ends s. It returns at once: the messages are
// handled on a goroutine that runs while bytes are buffered. An idle socket
// then waits with no goroutine, parked in idle (idlepoll), which starts
// the next burst's goroutine when input, a hang-up or a close comes; with
// no idle poller (nil, or a socket it cannot hold) it waits on a new
// goroutine. A goroutine's stack grows while it handles messages and only
// a garbage collection shrinks it again, so a waiting goroutine is always a
// fresh, small one (as MQTT's reader does).
func (c *Conn) Serve(s Served, idle *idlepoll.Poller) {
	c.served = s
	if idle != nil {
		if rc := idlepoll.Socket(c.nc); rc != nil {
			if h, err := idle.Register(rc, c.readBurst); err == nil {
				c.idle.Store(h)
			}
		}
	}
	if c.inputReady() {
		go c.readBurst()
		return
	}
	c.rest()
}

// serveBurst waits for input on a fresh goroutine, then reads it.
func (c *Conn) serveBurst() {
	if c.onWait != nil && !c.inputReady() {
		c.onWait()
	}
	c.readBurst()
}

// readBurst handles the messages that input brought, then hands the
// waiting on (rest); it is also the parked socket's wake function.
func (c *Conn) readBurst() {
	if err := c.waitInput(); err != nil {
		c.end()
		return
	}
	for {
		op, data, err := c.read(true)
		if err == errOnlyControl {
			c.returnReader()
			c.rest()
			return
		}
		if err != nil || !c.served.Message(op, data) {
			c.end()
			return
		}
		if c.in.r.Buffered() == 0 {
			c.returnReader()
			c.rest()
			return
		}
	}
}

// rest waits for the socket's next input: parked, or on a fresh
// goroutine.
func (c *Conn) rest() {
	if !c.park() {
		go c.serveBurst()
	}
}

// park hands the socket to the idle poller, reporting whether it took it;
// the caller's goroutine must then return. A closing socket is not
// parked: its reader waits for the peer's answer to the close, bounded by
// the read deadline Close set, which only a reading goroutine honours.
func (c *Conn) park() bool {
	h := c.idle.Load()
	if h == nil || c.closeSent.Load() || c.readAhead() {
		return false
	}
	if c.onWait != nil {
		c.onWait()
	}
	if err := h.Park(time.Time{}); err != nil {
		return false
	}
	// A Close between the check above and the park found nothing parked
	// to wake: wake it now (a Close after the park woke it already, and
	// this does nothing).
	if c.closeSent.Load() {
		h.Wake()
	}
	return true
}

// readAhead takes a byte a TLS socket already read from the wire (the
// rest of a record that came with the last one), which would never make
// the socket readable again, and reports whether there is input (or an
// error) to read now instead of parking.
func (c *Conn) readAhead() bool {
	if !idlepoll.BuffersInput(c.nc) {
		return false // a plain socket buffers nothing of its own
	}
	c.mu.Lock() // Close sets a read deadline too, under mu
	defer c.mu.Unlock()
	if c.closeSent.Load() {
		return true
	}
	n, err := idlepoll.ReadAhead(c.nc, c.pending[:])
	if n > 0 {
		c.held = true
		c.in.touch()
	}
	return n > 0 || err != nil
}

// inputReady reports whether input is in memory already: bytes buffered
// (the upgrade's, or a burst's), or the byte a wait read.
func (c *Conn) inputReady() bool {
	return c.held || c.in.r != nil && c.in.r.Buffered() > 0
}

// end releases the socket's registration, then ends reading.
func (c *Conn) end() {
	if h := c.idle.Load(); h != nil {
		h.Release()
	}
	c.served.End()
}

// wakeParked wakes a parked reader, so that it sees the socket closed or
// the close handshake begun (a reader that is running sees it itself).
func (c *Conn) wakeParked() {
	if h := c.idle.Load(); h != nil {
		h.Wake()
	}
}

// waitInput blocks until input arrives, holding no read buffer meanwhile.
func (c *Conn) waitInput() error {
	if c.inputReady() {
		return nil
	}
	c.returnReader()
	for {
		n, err := c.nc.Read(c.pending[:])
		if n > 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	c.held = true
	c.in.touch()
	return nil
}

// payloadChunk is the most readPayload allocates beyond what arrived.
const payloadChunk = 64 << 10

// readPayload reads n bytes, growing its buffer as they arrive: a declared
// length costs memory only once its bytes are there (a peer declaring 8 MiB
// and sending 3 bytes holds 64 KiB, not 8 MiB).
func readPayload(r io.Reader, n int64) ([]byte, error) {
	if n <= payloadChunk {
		p := make([]byte, n)
		_, err := io.ReadFull(r, p)
		return p, err
	}
	p := make([]byte, 0, payloadChunk)
	for int64(len(p)) < n {
		if len(p) == cap(p) { // double, up to what is still to come
			p = slices.Grow(p, int(min(n-int64(len(p)), int64(cap(p)))))
		}
		end := int(min(n, int64(cap(p))))
		got, err := io.ReadFull(r, p[len(p):end])
		p = p[:len(p)+got]
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// fail closes with a status and returns the error that ends reading.
func (c *Conn) fail(code ws.StatusCode, reason string) error {
	c.Close(code, reason)
	return fmt.Errorf("websocket: %s", reason)
}

// WriteFrame sends one frame at once.
func (c *Conn) WriteFrame(op ws.OpCode, p []byte) error {
	return c.writeFrames(func(b []byte) []byte { return AppendFrame(b, op, p) })
}

// writeFrames lets fn append frames to a borrowed buffer, then sends them
// in one write; a failed write closes the socket.
func (c *Conn) writeFrames(fn func([]byte) []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent.Load() {
		return net.ErrClosed
	}
	return c.writeLocked(fn)
}

func (c *Conn) writeLocked(fn func([]byte) []byte) error {
	bp := outBuffers.Get().(*[]byte)
	b := fn((*bp)[:0])
	err := c.sendLocked(b)
	if cap(b) <= 64<<10 { // an occasional huge message's buffer is not kept
		*bp = b[:0]
		outBuffers.Put(bp)
	}
	return err
}

// WriteEncoded sends frames already encoded (a kit.Writer's batch) in one
// write; a failed write closes the socket.
func (c *Conn) WriteEncoded(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent.Load() {
		return net.ErrClosed
	}
	return c.sendLocked(b)
}

// TrySend sends encoded frames now if that needs no wait: the socket is a
// plain one, no other write is under way and its buffer takes the first
// byte. What a short write leaves is written at once, waiting as any
// write does, so that no other frame comes between (in practice a ping's
// two bytes go whole). It reports whether b was sent; false with no error:
// nothing was written, for a writer that may wait.
func (c *Conn) TrySend(b []byte) (bool, error) {
	raw := kit.RawSocket(c.nc)
	if raw == nil || !c.mu.TryLock() {
		return false, nil
	}
	defer c.mu.Unlock()
	if c.closeSent.Load() {
		return false, net.ErrClosed
	}
	n, err := c.writeDL.Try(c.nc.SetWriteDeadline, func() (int, error) { return kit.WriteNow(raw, b) })
	if err == nil && n > 0 && n < len(b) {
		err = c.sendLocked(b[n:])
		n = len(b)
	}
	if err != nil {
		c.nc.Close()
		c.wakeParked()
		return false, err
	}
	return n == len(b), nil
}

// sendLocked writes b under c.mu, which also guards the write deadline:
// the reader goroutine writes control frames too.
func (c *Conn) sendLocked(b []byte) error {
	if at, set := c.writeDL.Next(time.Now(), c.writeTimeout); set {
		c.nc.SetWriteDeadline(at)
	}
	_, err := c.nc.Write(b)
	if err != nil {
		c.nc.Close()
		c.wakeParked()
	}
	return err
}

// AppendFrame appends one unmasked, final frame (RFC 6455 5.2).
func AppendFrame(b []byte, op ws.OpCode, p []byte) []byte {
	b = append(b, 0x80|byte(op))
	switch n := len(p); {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

// Close starts (or answers) the close handshake with code, once; the
// reader then gets the peer's answer, or gives up after closeWait.
func (c *Conn) Close(code ws.StatusCode, reason string) {
	c.mu.Lock()
	defer c.wakeParked() // after the unlock: its reader may write at once
	defer c.mu.Unlock()
	if c.closeSent.Load() {
		return
	}
	c.closeSent.Store(true)
	var body []byte
	if !code.Empty() {
		// A control frame holds 125 bytes: the code's two and the reason.
		body = ws.NewCloseFrameBody(code, quote.Truncate(reason, maxCloseReason))
	}
	c.writeDL.Reset()
	c.writeLocked(func(b []byte) []byte { return AppendFrame(b, ws.OpClose, body) })
	c.nc.SetReadDeadline(time.Now().Add(closeWait))
}

// CloseNow drops the connection without a handshake.
func (c *Conn) CloseNow() {
	c.nc.Close()
	c.wakeParked()
}
