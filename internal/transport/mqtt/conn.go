package mqtt

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"

	"streamhub/internal/auth"
	"streamhub/internal/core/latch"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/deadline"
	"streamhub/internal/transport/kit/idlepoll"
)

// errSkipped marks a packet not sent because it exceeds the client's
// maximum packet size.
var errSkipped = errors.New("mqtt: packet over the client's maximum size")

var (
	codeShuttingDown = packets.ErrServerShuttingDown
	codeTakenOver    = packets.ErrSessionTakenOver
)

// conn is one network connection of a client. Its reader runs while there
// is input (and while the connection stays busy); an idle connection parks
// its socket in the server's idle poller and has no goroutine at all, or,
// where it cannot park (no poller, a pipe), keeps one reader waiting. A
// writer goroutine runs only while there is something to send, and the
// read and write buffers are borrowed for that time.
type conn struct {
	srv *Server
	nc  net.Conn
	// in reads nc (the conn is its source: readInput, beforeRead).
	in elasticReader[*conn]
	// idle is the connection's registration with the idle poller, kept
	// here rather than apart (Init), valid once parks is set; parks is
	// set under parkMu, which orders a park against close's Wake.
	idle    idlepoll.Handle
	parkMu  sync.Mutex
	version byte
	parks   bool
	// bridge is set for a broker's bridge that connected with the top
	// bit of the protocol level set (bridge.go); read-only after CONNECT.
	bridge bool
	// midPacket is set while the reader is inside a packet, packetDue once
	// it has had to wait for the rest of it (reader-owned).
	midPacket bool
	// holding is set while the reader holds the writer role (holdWriter);
	// heldPackets counts the packets handled meanwhile (reader-owned).
	holding     bool
	heldPackets uint8
	// bursts counts bursts of input since windowStart (Unix nanoseconds);
	// busy is what the last window showed (busyReading; reader-owned).
	busy   bool
	bursts uint8
	// Client limits (v5), read-only after CONNECT; small types beside
	// version so that they share its words (the struct is per connection).
	aliasMax    uint16
	inflightMax uint16 // packet identifiers bound it anyway
	// clientMaxPacket is the client's maximum packet size, 0 for none.
	clientMaxPacket uint32
	// keepalive is the keep-alive in seconds, 0 for none, as the protocol
	// says it (read-only after CONNECT).
	keepalive uint16
	// windowStart is when the bursts' window began (busyReading), in the
	// low 16 bits of the clock's milliseconds: a busy window is far
	// shorter than their wrap (65 s), and a window that is not and
	// happens to look short only keeps a goroutine for one more window.
	// packetDue is the deadline of the packet begun, in milliseconds from
	// since (dueAt), 0: none. Both are reader-owned.
	windowStart uint16
	packetDue   uint32
	sess        *session
	// who is the identity the client authenticated as; nil for an
	// anonymous one, made again when asked (identity): most idle
	// connections are anonymous, and each kept 80 B for nothing.
	who *auth.Identity
	// listing is its listing in the registry, removed when it ends.
	listing registry.Listing
	// pub is the state of a client that publishes, made by the reader
	// with the first PUBLISH: a subscriber that never publishes does
	// without. Atomic for the writer, which reads its acks.
	pub    atomic.Pointer[publisher]
	readDL deadline.Lazy // reader-owned

	// writeMu guards out and outAlias. Lock order: a session's mu, then
	// writeMu, then the hub's Subscription.mu (the writer drains the hub
	// queue under both, deliver.go).
	writeMu  sync.Mutex
	out      *[]byte // pending output, borrowed from outBuffers while not empty
	writeDL  deadline.Lazy
	outAlias map[string]uint16

	// done closes when the connection starts closing, gone once finish
	// has run (the session detached); their channels are made only for
	// those who wait (latch).
	done      latch.Latch
	gone      latch.Latch
	closeOnce sync.Once
	// wstate is the writer's state: writerIdle, writerBusy, or writerAgain
	// when more work arrived during a run. Here, not with writeMu, so that
	// it fills closeOnce's word.
	wstate atomic.Int32
	// reason, if set before close, is sent to a v5 client as DISCONNECT;
	// the first one set stays.
	reason *packets.Code // written with setReason
	// since is when the connection was accepted (Unix nanoseconds):
	// messages queued before it do not make it a slow consumer (see
	// session.overflowed).
	since int64
}

// keepAliveWait is how long the connection may stay silent: one and a
// half times its keep-alive, 0 for no limit.
func (c *conn) keepAliveWait() time.Duration {
	return time.Duration(c.keepalive) * time.Second * 3 / 2
}

// dueMark is t as packetDue keeps it: milliseconds from since, rounded up
// (never early), in 32 bits that wrap every 49 days; never 0, which says
// none.
func (c *conn) dueMark(t time.Time) uint32 {
	ms := uint32((t.UnixNano() - c.since + int64(time.Millisecond) - 1) / int64(time.Millisecond))
	return max(ms, 1)
}

// dueAt is the time packetDue marks, told from now: the deadline is
// within the packet timeout of now (far less than the wrap), so the
// signed distance from now's mark places it.
func (c *conn) dueAt(now time.Time) time.Time {
	elapsed := (now.UnixNano() - c.since) / int64(time.Millisecond)
	ms := elapsed + int64(int32(c.packetDue-uint32(elapsed)))
	return time.Unix(0, c.since+ms*int64(time.Millisecond))
}

// connectDeadline is when a connection that has not sent its CONNECT is
// closed.
func (c *conn) connectDeadline() time.Time { return time.Unix(0, c.since).Add(connectWait) }

// publisher is a connection's state for the PUBLISH packets it reads:
// reader-owned but for acks.
type publisher struct {
	lastTopic string            // of the last PUBLISH read
	aliases   map[uint16]string // topic aliases (v5)
	limiter   *rate.Limiter     // nil: no rate limit
	who       *auth.Identity    // the conn's identity(), kept for its publishes
	// acks orders the acknowledgements of QoS 1 and 2 publishes, made by
	// the reader for the first of them; the writer reads it.
	acks atomic.Pointer[ackQueue]
}

// identity is who the client is (not before the handshake attached the
// session): an anonymous client's session is named by its client id.
func (c *conn) identity() *auth.Identity {
	if c.who != nil {
		return c.who
	}
	return auth.AnonymousIdentity(c.clientID())
}

// clientID is the client's identifier (after the handshake).
func (c *conn) clientID() string {
	if c.who != nil {
		return c.who.ClientID
	}
	return c.sess.id
}

// userName is the user the client authenticated as, "" for none.
func (c *conn) userName() string {
	if c.who != nil {
		return c.who.User
	}
	return ""
}

// publisher returns the publishing state, made on first use. Reader only.
func (c *conn) publisher() *publisher {
	p := c.pub.Load()
	if p == nil {
		p = &publisher{limiter: c.srv.cfg.Admission.Rate.Limiter(), who: c.identity()}
		c.pub.Store(p)
	}
	return p
}

// loadAcks is the connection's queue of acknowledgements, nil until a
// publish at QoS 1 or 2 made it.
func (c *conn) loadAcks() *ackQueue {
	if p := c.pub.Load(); p != nil {
		return p.acks.Load()
	}
	return nil
}

const (
	writerIdle = iota
	writerBusy
	writerAgain
)

// outBuffers lends write buffers to connections with output pending.
var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// ServeConn runs the MQTT protocol on nc until it ends.
func (s *Server) ServeConn(nc net.Conn) {
	if c := s.open(nc); c != nil {
		<-c.gone.Done()
	}
}

// open handshakes on the caller's goroutine and, once the client is
// connected, leaves the connection to its reader; it returns nil if the
// handshake failed. The listeners' goroutines (the TCP ones, WebSocket's
// HTTP handler) return after it: an idle connection then has no goroutine
// but its waiting reader.
func (s *Server) open(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, since: time.Now().UnixNano()}
	c.in.src = c
	c.wstate.Store(writerBusy) // no writer before CONNACK is out: pokes wait
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if c.awaitConnect() {
		return c // connect runs when the CONNECT comes
	}
	if !c.connect() {
		return nil
	}
	return c
}

// connect handshakes and, once the client is connected, leaves the
// connection to its reader; it reports false (the connection finished)
// if the handshake failed.
func (c *conn) connect() bool {
	s := c.srv
	// Closed before its handshake (a shutdown): the handshake's deadline
	// would replace the one close set.
	if c.done.Closed() || !c.handshake() {
		c.finish()
		return false
	}
	s.mu.Lock()
	delete(s.conns, c) // connected: Close finds it through its session
	s.mu.Unlock()
	c.register()
	s.online.Add(1)
	s.log.Debug("connection opened", "transport", "mqtt", "remote", c.nc.RemoteAddr().String(), "client", c.sess.id, "version", c.version)
	c.nc.SetReadDeadline(time.Time{}) // the handshake's; beforeRead sets the keep-alive's
	c.resend()
	c.wstate.Store(writerIdle)
	c.poke() // the resent flows, and whatever was queued before
	c.registerIdle()
	if c.in.Buffered() > 0 || !c.park() {
		go c.readBurst()
	}
	return true
}

// connectWait bounds the wait for a connection's CONNECT, from its accept.
const connectWait = 10 * time.Second

// awaitConnect parks a socket whose CONNECT (over TLS, whose ClientHello)
// has not come yet (most of a connection storm's are accepted before it):
// the handshake's read would otherwise wait for it on a goroutine (and, on
// a socket of ours, promoted: sockconn). The wake function (resume) then
// connects, the TLS handshake first; past connectWait, the handshake's
// read fails at once. It reports whether the connection parked.
func (c *conn) awaitConnect() bool {
	raw := c.rawSocket()
	if raw == nil {
		raw = socketBeforeHello(c.nc)
	}
	if raw == nil || c.srv.cfg.Idle == nil || idlepoll.InputWaiting(raw) {
		return false
	}
	c.registerIdle()
	if !c.parks {
		return false
	}
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if c.done.Closed() {
		return false // closed meanwhile: connect finishes it
	}
	return c.idle.Park(c.connectDeadline()) == nil
}

// socketBeforeHello is the socket under a TLS connection whose handshake
// has not begun, so that nothing of it was read yet; nil otherwise.
func socketBeforeHello(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(interface{ ConnectionState() tls.ConnectionState })
	if !ok || !idlepoll.BuffersInput(nc) || tc.ConnectionState().HandshakeComplete {
		return nil
	}
	return idlepoll.Socket(nc)
}

// registerIdle registers the connection's socket with the idle poller, if
// the server has one and the connection is a TCP socket, plain or under
// TLS, or a WebSocket's stream (its socket, under TLS or not).
func (c *conn) registerIdle() {
	p := c.srv.cfg.Idle
	if p == nil || c.parks || c.IdleSocket() == nil {
		return
	}
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if err := p.Init(&c.idle, c); err != nil {
		c.srv.log.Debug("connection keeps its reader waiting", "transport", "mqtt", "err", err)
		return
	}
	c.parks = true
}

// IdleSocket is the socket the idle poller waits on (idlepoll.Owner): the
// TCP socket, plain or under TLS, or a WebSocket's stream's; nil for none
// (a pipe).
func (c *conn) IdleSocket() syscall.RawConn {
	if st, ok := c.nc.(stream); ok {
		return idlepoll.Socket(st.Socket())
	}
	return idlepoll.Socket(c.nc)
}

// Resume is the parked connection's wake function (idlepoll.Owner).
func (c *conn) Resume() { c.resume() }

// rawSocket writes to the socket without waiting (kit.WriteNow); nil where
// the connection is not a plain socket (TLS, WebSocket). Asked each time
// rather than kept (16 B a connection): a socket of ours (sockconn) gives
// it without allocating.
func (c *conn) rawSocket() syscall.RawConn { return kit.RawSocket(c.nc) }

// finish releases what an ended connection holds.
func (c *conn) finish() {
	s := c.srv
	c.in.release()
	if c.parks {
		c.idle.Release() // the owner's, before the socket closes
	}
	if c.loadReason() != nil && c.version == 5 {
		lingerClose(c.nc)
	} else {
		c.nc.Close()
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.gone.Close()
	s.wg.Done()
}

// lingerTime bounds how long a connection told why it ends (DISCONNECT)
// waits for its client to read that and go.
const lingerTime = 500 * time.Millisecond

// lingerClose closes a connection whose last packet must reach the client:
// closing a TCP socket with input still unread (a client publishing as it
// is cut off) sends a reset, and the client's system then drops the
// DISCONNECT it had not read yet. So: end our side (FIN after the packet),
// read and discard what the client still sends until it closes or
// lingerTime passes, then close.
func lingerClose(nc net.Conn) {
	defer nc.Close()
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, nc)
}

// readBurst waits for input, then handles packets while they are buffered,
// and parks the connection in the idle poller, whose wake function starts
// a new readBurst when more comes; where it cannot park, it hands the
// waiting to a new goroutine: a goroutine's stack grows while it handles
// packets and only a garbage collection shrinks it again, so the one left
// waiting on a quiet connection is always a fresh, small one. A connection
// whose input comes in many small bursts (a client that writes each packet
// on its own) keeps its goroutine while it stays that busy: parking, or
// starting a goroutine and growing its stack again, on every packet cost
// more than the packet.
func (c *conn) readBurst() {
	for {
		if err := c.in.wait(); err != nil {
			c.end(c.readFailed(err))
			return
		}
		for {
			if ok, clean := c.handleNext(); !ok {
				c.end(clean)
				return
			}
			if c.in.Buffered() == 0 {
				break
			}
		}
		c.writeHeld()
		if !c.busyReading() {
			if !c.park() {
				go c.readBurst()
			}
			return
		}
	}
}

// park hands the connection, its input all handled (so never inside a
// packet), to the idle poller until more input, its keep-alive deadline
// or a close (Wake) comes, and gives its read buffer back meanwhile. It
// reports false where the connection did not park: no poller, a TLS
// connection with records already read ahead, a failed registration, a
// close under way; the caller then reads on.
func (c *conn) park() bool {
	if !c.parks {
		return false
	}
	if idlepoll.BuffersInput(c.nc) {
		// crypto/tls (or tls13rec) may hold records it read with the last one: the
		// socket, with nothing left to read, would not wake them. A read
		// with a deadline in the past takes them without reading the
		// socket (a timeout is not sticky in crypto/tls).
		c.nc.SetReadDeadline(time.Unix(1, 0))
		more, err := c.in.readAhead()
		c.nc.SetReadDeadline(c.readDL.At()) // the one the last read had
		if more || err != nil {
			return false // for the reader: input, or the error again
		}
	}
	if st, ok := c.nc.(stream); ok {
		// WebSocket: the rest of a message, frame bytes or (wss) TLS
		// records may be in memory, which the socket would not wake.
		drained := st.Drained()
		c.nc.SetReadDeadline(c.readDL.At()) // Drained may have moved it
		if !drained {
			return false // input for the reader
		}
	}
	at := c.moveReadDeadline(time.Now())
	c.in.release()
	idlepoll.Parking(c.nc) // tls13rec: its ciphers and buffers go back too
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if c.done.Closed() {
		return false // close's Wake came before the park: read and end
	}
	if err := c.idle.Park(at); err != nil {
		c.srv.log.Debug("connection keeps its reader waiting", "transport", "mqtt", "err", err)
		return false
	}
	return true
}

// resume is the parked connection's wake function. Parked before its
// CONNECT came (awaitConnect), it connects. Connected, the socket's read
// deadline is the one the connection parked with: once it passed, the
// keep-alive expired, as a read waiting for input would have found.
// Otherwise the reader reads on (input, a hang-up, or a close: its read
// then fails).
func (c *conn) resume() {
	if c.sess == nil {
		c.connect()
		return
	}
	if at := c.readDL.At(); !at.IsZero() && !time.Now().Before(at) {
		c.end(c.readFailed(os.ErrDeadlineExceeded))
		return
	}
	c.readBurst()
}

// A connection is busy reading while each window of burstWindow bursts of
// input came within burstWindow × busyBurstGap.
const (
	burstWindow  = 32
	busyBurstGap = time.Millisecond
)

// busyReading counts a burst of input and reports whether the connection
// is busy enough for its reader to keep its goroutine, as the last whole
// window of bursts showed (reader-owned).
func (c *conn) busyReading() bool {
	c.bursts++
	if c.bursts < burstWindow {
		return c.busy
	}
	now := uint16(time.Now().UnixMilli())
	c.busy = now-c.windowStart < uint16(burstWindow*busyBurstGap/time.Millisecond)
	c.bursts, c.windowStart = 0, now
	return c.busy
}

// end closes a connected client's connection; clean tells whether it
// disconnected properly (so that its will is not sent).
func (c *conn) end(clean bool) {
	c.close()
	c.srv.log.Debug("connection closed", "transport", "mqtt", "remote", c.nc.RemoteAddr().String(), "client", c.sess.id, "clean", clean)
	c.sess.detach(c, !clean)
	c.listing.Remove()
	c.srv.online.Add(-1)
	c.finish()
}

// readInput reads the socket (the reader's source).
func (c *conn) readInput(p []byte) (int, error) { return c.nc.Read(p) }

// beforeRead runs before each read from the socket: it moves the keep-alive
// deadline (set by the handshake until then), and refuses to once the
// connection is closed, whose deadline must stay in the past.
func (c *conn) beforeRead() error {
	if c.sess == nil {
		return nil
	}
	c.writeHeld()
	c.moveReadDeadline(time.Now())
	if c.done.Closed() {
		return net.ErrClosed
	}
	return nil
}

// moveReadDeadline sets the socket's read deadline for the next read, if
// it moved, and returns it: the keep-alive's (1.5 times the interval from
// the last input, moved at most once a quarter of that), or the packet
// timeout's while the reader is inside a packet (reader-owned).
func (c *conn) moveReadDeadline(now time.Time) time.Time {
	at, set := c.readDL.Next(now, c.keepAliveWait())
	switch {
	case c.midPacket && c.packetDue == 0:
		// A packet has begun and its rest is not here: it must arrive
		// within the packet timeout, keep-alive or not.
		c.packetDue, set = c.dueMark(now.Add(c.srv.cfg.PacketTimeout)), true
		fallthrough
	case c.midPacket:
		if due := c.dueAt(now); at.IsZero() || due.Before(at) {
			at = due
		}
	case c.packetDue != 0:
		// The packet that set its own deadline is done: the keep-alive's
		// (or none) applies again.
		c.packetDue = 0
		c.readDL.Reset()
		at, _ = c.readDL.Next(now, c.keepAliveWait())
		set = true
	}
	if set {
		c.nc.SetReadDeadline(at)
	}
	return at
}

// send encodes pk and writes it at once (handshake and final packets).
func (c *conn) send(pk *packets.Packet) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.encodeLocked(pk); err != nil {
		return err
	}
	return c.flushLocked()
}

// queue encodes pk into the write buffer; the writer flushes it.
func (c *conn) queue(pk *packets.Packet) {
	c.writeMu.Lock()
	err := c.encodeLocked(pk)
	c.writeMu.Unlock()
	if err != nil {
		c.close()
		return
	}
	c.poke()
}

// encodeLocked appends pk to the output; the caller holds writeMu.
func (c *conn) encodeLocked(pk *packets.Packet) error {
	pk.ProtocolVersion = c.version
	pk.Mods.MaxSize = c.clientMaxPacket
	var b bytes.Buffer
	if err := encode(&b, pk); err != nil {
		return err
	}
	if c.clientMaxPacket > 0 && b.Len() > int(c.clientMaxPacket) {
		return errSkipped // [MQTT-3.1.2-24]: never send a packet over the client's maximum
	}
	c.appendLocked(b.Bytes())
	return nil
}

// outLocked is the output buffer, borrowed if the connection has none;
// the caller holds writeMu.
func (c *conn) outLocked() *[]byte {
	if c.out == nil {
		c.out = outBuffers.Get().(*[]byte)
	}
	return c.out
}

// appendLocked adds bytes to the output; the caller holds writeMu.
func (c *conn) appendLocked(p []byte) {
	out := c.outLocked()
	*out = append(*out, p...)
}

// flushLocked writes the output and gives the buffer back; the caller
// holds writeMu.
func (c *conn) flushLocked() error {
	if c.out == nil {
		return nil
	}
	var err error
	if b := *c.out; len(b) > 0 {
		if at, set := c.writeDL.Next(time.Now(), c.srv.cfg.WriteTimeout); set {
			c.nc.SetWriteDeadline(at)
		}
		_, err = c.nc.Write(b)
	}
	c.releaseOutLocked()
	return err
}

// releaseOutLocked gives the output buffer back, empty; the caller holds
// writeMu.
func (c *conn) releaseOutLocked() {
	b := c.out
	c.out = nil
	if cap(*b) <= 64<<10 { // an occasional huge message's buffer is not kept
		*b = (*b)[:0]
		outBuffers.Put(b)
	}
}

// poke asks for a writer run, starting a writer if none is running.
func (c *conn) poke() {
	for {
		st := c.wstate.Load()
		if st == writerAgain {
			return
		}
		if c.wstate.CompareAndSwap(st, st+1) {
			if st == writerIdle {
				go c.writeLoop()
			}
			return
		}
	}
}

// kick closes the connection with a reason (v5 DISCONNECT).
func (c *conn) kick(code packets.Code) {
	c.setReason(&code)
	c.close()
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.done.Close()
		if reason := c.loadReason(); reason != nil && c.version == 5 && c.sess != nil {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: reason.Code}
			pk.Properties.ReasonString = reason.Reason
			_ = c.send(&pk)
		}
		// Unblock the reader (beforeRead checks done after each deadline it
		// sets, so it cannot move this one away), or wake it if parked (park
		// checks done under parkMu); the writer sees done. The socket itself
		// closes in finish, once the client had a chance to read the
		// DISCONNECT.
		c.nc.SetReadDeadline(time.Now())
		c.parkMu.Lock()
		if c.parks {
			c.idle.Wake()
		}
		c.parkMu.Unlock()
	})
}

// heldPacketsMax bounds the packets the reader handles while holding the
// writer role before it writes what they made.
const heldPacketsMax = 64

// holdWriter makes the reader the connection's writer while it handles
// the packets it has read, if no writer runs: pokes meanwhile (its own
// publishes delivered back to it, acknowledgements, other publishers'
// messages) start no writer goroutine, and the reader writes their output
// itself before it next waits for input (writeHeld). Only where the socket
// can be written without waiting (plain TCP).
func (c *conn) holdWriter() {
	if c.rawSocket() == nil {
		return
	}
	if c.holding {
		c.heldPackets++
		if c.heldPackets < heldPacketsMax {
			return
		}
		c.writeHeld()
	}
	if c.wstate.CompareAndSwap(writerIdle, writerBusy) {
		c.holding = true
	}
}

// writeHeld writes, on the reader's goroutine, what was queued while the
// reader held the writer role.
func (c *conn) writeHeld() {
	if !c.holding {
		return
	}
	c.holding, c.heldPackets = false, 0
	if c.wstate.CompareAndSwap(writerBusy, writerIdle) {
		return // not poked meanwhile: nothing to write (a publisher only)
	}
	c.writeRuns(true)
}

// tryFlushLocked writes as much of the output as the socket takes without
// waiting; whole reports whether that was all of it, the rest staying in
// the output. The caller holds writeMu.
func (c *conn) tryFlushLocked() (whole bool, err error) {
	if c.out == nil {
		return true, nil
	}
	b := *c.out
	n, err := c.writeDL.Try(c.nc.SetWriteDeadline, func() (int, error) { return kit.WriteNow(c.rawSocket(), b) })
	if err != nil {
		return false, err
	}
	if n < len(b) {
		*c.out = b[:copy(b, b[n:])]
		return false, nil
	}
	c.releaseOutLocked()
	return true, nil
}

// setReason sets the reason the connection ends with unless one is set
// already, reporting whether it did. Atomic on the pointer itself (no
// mutex beside it in every connection): the hub's overflow hook sets it
// under hub locks, the reader and kicks from elsewhere too.
func (c *conn) setReason(code *packets.Code) bool {
	return atomic.CompareAndSwapPointer((*unsafe.Pointer)(unsafe.Pointer(&c.reason)), nil, unsafe.Pointer(code))
}

// loadReason is the reason set, nil for none.
func (c *conn) loadReason() *packets.Code {
	return (*packets.Code)(atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&c.reason))))
}
