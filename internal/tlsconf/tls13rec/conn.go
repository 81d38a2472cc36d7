// Package tls13rec is a TLS 1.3 record layer (RFC 8446, sections 5 and
// 7.1–7.3) for server connections whose handshake crypto/tls did: once
// crypto/tls has agreed on TLS 1.3 and the application traffic secrets,
// the connection leaves crypto/tls and protects its records here, so that
// an idle connection can give back its cipher state and buffers (Park)
// and keep only its two traffic secrets and sequence numbers. crypto/tls
// has no way to give them back (golang/go#43563) and this kernel no kTLS;
// docs/IDLE.md says why and what was reviewed.
//
// The handshake stays crypto/tls's (Server, NewListener): certificates,
// key exchange, client certificates, ALPN. TLS 1.2 connections stay on
// crypto/tls for their whole life. The cryptography is the standard
// library's (AES-GCM, HKDF) and golang.org/x/crypto's ChaCha20-Poly1305,
// the implementation crypto/tls itself uses; this package only frames,
// numbers and checks records.
package tls13rec

import (
	"context"
	"crypto/cipher"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Record layer limits and types (RFC 8446, sections 5 and 5.2).
const (
	headerLen     = 5
	maxPlaintext  = 1 << 14
	maxCiphertext = maxPlaintext + 256

	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23

	handshakeKeyUpdate = 24
	keyUpdateLen       = 4 + 1 // type, uint24 length, request_update

	// maxUseless bounds the records in a row that carry no data (empty
	// ones, user_canceled alerts, KeyUpdates), as crypto/tls does: a
	// peer cannot keep the reader busy without progress.
	maxUseless = 16

	// keyUpdateAfter is the number of records one write key protects
	// before we update it: RFC 8446 section 5.5 limits AES-GCM to about
	// 2^24.5 full records per key.
	keyUpdateAfter = 1 << 24
)

// Buffer sizes: a connection waiting for a record reads into a small
// buffer, and takes a large one only for a record that needs it. Both are
// pooled and given back whenever they hold nothing, so that an idle
// connection holds none.
const (
	smallBuf = 1 << 10
	largeBuf = headerLen + maxCiphertext
)

var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	largeBufs = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}
)

// Conn is a server TLS connection: crypto/tls's handshake, then (TLS 1.3)
// records of its own. Like tls.Conn it allows one Read and one Write at a
// time, concurrently with each other and with Close.
type Conn struct {
	nc net.Conn // the socket (or whatever carried the handshake)
	// hs is the handshake, until it is done and the connection switched
	// (nil afterwards); it keeps its error if it failed.
	hs atomic.Pointer[handover]
	// after is nil unless the handshake left something beside the
	// records: crypto/tls's connection to go on with, or what
	// ConnectionState tells of a switched one.
	after *afterHandshake
	in    inbound
	out   outbound
	// parked is set by Park and cleared by the next Read: a writer that
	// finds it set gives its cipher back when done, unless writes come in
	// a stream (outbound.lastParked).
	parked atomic.Bool
	suite  suiteIndex
}

// direction is one direction's protection: its traffic secret and record
// sequence number, and while in use the AEAD and IV derived from the
// secret (apart, so that a parked connection keeps a pointer only).
type direction struct {
	secret [maxSecret]byte
	seq    uint64
	keys   *trafficKeys // nil until used, and again once parked
}

// trafficKeys are what a traffic secret derives to protect records.
type trafficKeys struct {
	aead cipher.AEAD
	iv   [ivLen]byte
}

// derive builds the direction's AEAD if it has none.
func (d *direction) derive(s *suite) error {
	if d.keys != nil {
		return nil
	}
	k, err := s.trafficKeys(d.secret[:s.hashed])
	if err != nil {
		return err
	}
	d.keys = k
	return nil
}

// update moves the direction to its next traffic secret (KeyUpdate).
func (d *direction) update(s *suite) error {
	if err := s.nextSecret(d.secret[:s.hashed]); err != nil {
		return err
	}
	d.keys, d.seq = nil, 0
	return nil
}

// stickyError is an error that, once set, stays: behind a pointer, since
// most connections never have one (8 bytes instead of an interface's 16).
type stickyError struct{ p *error }

func (s stickyError) get() error {
	if s.p == nil {
		return nil
	}
	return *s.p
}

func (s *stickyError) set(err error) { s.p = &err }

// inbound is the reading side; its fields are guarded by mu.
type inbound struct {
	mu sync.Mutex
	direction
	buf     *[]byte     // pooled, nil while nothing is buffered
	r, w    int32       // buf[r:w] holds records not yet opened
	ps, pe  int32       // buf[ps:pe] holds plaintext not yet read
	err     stickyError // the connection's input ended
	hs      [keyUpdateLen]byte
	hsN     uint8 // bytes of a handshake message read so far
	useless uint8
}

// outbound is the writing side; its fields are guarded by mu.
type outbound struct {
	mu sync.Mutex
	direction
	err stickyError // a record may have been cut, nothing can follow
	// lastParked is when (Unix seconds, wrapping) the last write to the
	// parked connection ended; holding is set while a timer is to give
	// the AEAD back once such writes stop (keepWhileWrittenLocked).
	lastParked uint32
	holding    bool
}

// quietAfter is how long writes to a parked connection must stop before
// the AEAD they kept goes back: a stream of deliveries to an idle
// subscriber builds its AEAD twice (its first two writes), not once a
// write.
const quietAfter = time.Second

// afterHandshake is crypto/tls's connection where the handshake was not
// TLS 1.3 (or the switch's conditions were not met), every call then
// going to it; or, switched, what ConnectionState reports beyond version
// and suite when there is something to tell (a certificate, SNI or ALPN).
type afterHandshake struct {
	tc                   *tls.Conn
	serverName, protocol string
	certs                []*x509.Certificate
	chains               [][]*x509.Certificate
}

// delegate is crypto/tls's connection if every call goes to it, or nil.
func (c *Conn) delegate() *tls.Conn {
	if a := c.after; a != nil {
		return a.tc
	}
	return nil
}

// NetConn returns the connection underneath (the socket), as tls.Conn's
// does: for a poller waiting for its input (idlepoll.Socket).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Handshake runs crypto/tls's handshake if it has not run yet, then
// switches a TLS 1.3 connection to this package's records.
func (c *Conn) Handshake() error { return c.HandshakeContext(context.Background()) }

// Switched reports whether the connection speaks its records here (TLS
// 1.3 after a handshake), not through crypto/tls.
func (c *Conn) Switched() bool { return c.hs.Load() == nil && c.delegate() == nil }

func (c *Conn) Write(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	if tc := c.delegate(); tc != nil {
		return tc.Write(b)
	}
	out := &c.out
	out.mu.Lock()
	n, err := c.writeLocked(b)
	out.mu.Unlock()
	// Parked meanwhile: nobody reads, so this was a delivery to an idle
	// connection, whose cipher goes back until it writes again, or once
	// writes stop coming. Checked after unlocking, so that a Park that
	// found the lock taken is seen.
	if c.parked.Load() && out.mu.TryLock() {
		if c.parked.Load() {
			c.keepWhileWrittenLocked()
		}
		out.mu.Unlock()
	}
	return n, err
}

// keepWhileWrittenLocked decides, after a write to a parked connection,
// whether its AEAD goes back now: it does after a lone write (a delivery
// now and then keeps nothing), and it stays while writes keep coming, a
// second one within a second of the last (a stream of deliveries to an
// idle subscriber), until they stop for quietAfter (dropIfQuiet): building
// it costs 2–6 µs, about the delivery's own CPU.
func (c *Conn) keepWhileWrittenLocked() {
	out := &c.out
	now := uint32(time.Now().Unix())
	streaming := out.lastParked != 0 && now-out.lastParked <= 1
	out.lastParked = now
	switch {
	case out.holding:
	case streaming:
		out.holding = true
		time.AfterFunc(quietAfter, c.dropIfQuiet)
	default:
		out.keys = nil
	}
}

// dropIfQuiet gives the write AEAD back if the connection is still parked
// and nothing was written to it for a second; otherwise it looks again
// later, or (not parked: its reader runs) leaves it to the next Park.
func (c *Conn) dropIfQuiet() {
	out := &c.out
	if !out.mu.TryLock() {
		time.AfterFunc(quietAfter, c.dropIfQuiet) // a write under way: not quiet
		return
	}
	defer out.mu.Unlock()
	if c.parked.Load() && uint32(time.Now().Unix())-out.lastParked <= 1 {
		time.AfterFunc(quietAfter, c.dropIfQuiet)
		return
	}
	out.holding = false
	if c.parked.Load() {
		out.keys = nil
	}
}

// writeLocked writes b as application data records of at most
// maxPlaintext each. Any error is the connection's last: a record may be
// cut.
func (c *Conn) writeLocked(b []byte) (int, error) {
	out := &c.out
	if err := out.err.get(); err != nil {
		return 0, err
	}
	bufp := largeBufs.Get().(*[]byte)
	defer largeBufs.Put(bufp)
	n := 0
	for len(b) > 0 {
		if out.seq >= keyUpdateAfter {
			if err := c.keyUpdateLocked(); err != nil {
				return n, err
			}
		}
		k := min(len(b), maxPlaintext)
		rec, err := c.seal(*bufp, typeApplicationData, b[:k])
		if err == nil {
			_, err = c.nc.Write(rec)
		}
		if err != nil {
			out.err.set(err)
			return n, err
		}
		n += k
		b = b[k:]
	}
	return n, nil
}

// seal protects one record in buf: header, then data, its content type
// and the tag, sealed in place.
func (c *Conn) seal(buf []byte, typ byte, data []byte) ([]byte, error) {
	out := &c.out
	if out.seq == math.MaxUint64 {
		return nil, errors.New("tls13rec: write sequence number exhausted")
	}
	if err := out.derive(c.suite.get()); err != nil {
		return nil, err
	}
	k := out.keys
	inner := len(data) + 1
	n := inner + k.aead.Overhead()
	rec := buf[:headerLen+inner]
	rec[0], rec[1], rec[2] = typeApplicationData, 3, 3
	binary.BigEndian.PutUint16(rec[3:], uint16(n))
	copy(rec[headerLen:], data)
	rec[headerLen+len(data)] = typ
	nonce := nonce(&k.iv, out.seq)
	out.seq++
	sealed := k.aead.Seal(rec[headerLen:headerLen], nonce[:], rec[headerLen:], rec[:headerLen])
	return buf[:headerLen+len(sealed)], nil
}

// keyUpdateLocked sends a KeyUpdate (update_not_requested) with the
// current key, then moves to the next one (RFC 8446, section 4.6.3).
func (c *Conn) keyUpdateLocked() error {
	if err := c.out.err.get(); err != nil {
		return err // closed for writing: nothing more may be sent
	}
	msg := [keyUpdateLen]byte{handshakeKeyUpdate, 0, 0, 1, 0}
	bufp := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(bufp)
	rec, err := c.seal(*bufp, typeHandshake, msg[:])
	if err == nil {
		_, err = c.nc.Write(rec)
	}
	if err == nil {
		err = c.out.update(c.suite.get())
	}
	if err != nil {
		c.out.err.set(err)
	}
	return err
}

// sendAlertLocked sends a fatal alert, or close_notify, and ends writing.
func (c *Conn) sendAlertLocked(a alert) {
	out := &c.out
	if out.err.get() != nil {
		return
	}
	level := byte(2) // fatal
	if a == alertCloseNotify {
		level = 1
	}
	bufp := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(bufp)
	if rec, err := c.seal(*bufp, typeAlert, []byte{level, byte(a)}); err == nil {
		_, _ = c.nc.Write(rec)
	}
	var err error = errShutdown
	if a != alertCloseNotify {
		err = &net.OpError{Op: "local error", Err: a}
	}
	out.err.set(err)
}

var errShutdown = errors.New("tls: protocol is shutdown")

// closeNotifyWait bounds the wait to send close_notify, as crypto/tls's.
const closeNotifyWait = 5 * time.Second

// CloseWrite sends close_notify: the peer reads the end of the stream, and
// this side writes no more (the socket stays open, as with tls.Conn).
func (c *Conn) CloseWrite() error {
	if c.hs.Load() != nil {
		return errors.New("tls: CloseWrite called before handshake complete")
	}
	if tc := c.delegate(); tc != nil {
		return tc.CloseWrite()
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	c.closeNotifyLocked()
	return nil
}

func (c *Conn) closeNotifyLocked() {
	if c.out.err.get() != nil {
		return
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeNotifyWait))
	c.sendAlertLocked(alertCloseNotify)
	_ = c.nc.SetWriteDeadline(time.Now())
}

// Close sends close_notify, unless a Write is under way (Close then just
// breaks it, as tls.Conn's does), and closes the connection underneath.
func (c *Conn) Close() error {
	if c.hs.Load() != nil {
		return c.nc.Close()
	}
	if tc := c.delegate(); tc != nil {
		return tc.Close()
	}
	if c.out.mu.TryLock() {
		c.closeNotifyLocked()
		c.out.mu.Unlock()
	}
	return c.nc.Close()
}

// Park gives back what an idle connection does not need until its next
// read or write: both AEADs and the read buffer (unless it still holds
// input, which the caller should have read). What stays is the two
// traffic secrets and sequence numbers. The next Read or Write builds
// what it needs again; a Write while parked gives its AEAD back when it
// is done, or once writes stop coming if they come in a stream. Park is the reader's to call, between reads.
func (c *Conn) Park() {
	if !c.Switched() {
		return
	}
	c.parked.Store(true)
	if c.in.mu.TryLock() {
		if c.in.ps == c.in.pe && c.in.r == c.in.w {
			c.in.release()
		}
		c.in.keys = nil
		c.in.mu.Unlock()
	}
	if c.out.mu.TryLock() {
		c.out.keys = nil
		c.out.mu.Unlock()
	}
}

// Buffered is the number of plaintext and record bytes read from the
// socket and not yet read from the connection.
func (c *Conn) Buffered() int {
	if !c.Switched() {
		return 0
	}
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	return int(c.in.pe - c.in.ps + c.in.w - c.in.r)
}

// ConnectionState is crypto/tls's state of the handshake; once switched,
// it keeps what the handshake established (no key exporter).
func (c *Conn) ConnectionState() tls.ConnectionState {
	if h := c.hs.Load(); h != nil {
		return h.tc.ConnectionState()
	}
	if tc := c.delegate(); tc != nil {
		return tc.ConnectionState()
	}
	st := tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, CipherSuite: c.suite.get().id}
	if p := c.after; p != nil {
		st.ServerName, st.NegotiatedProtocol, st.NegotiatedProtocolIsMutual = p.serverName, p.protocol, true
		st.PeerCertificates, st.VerifiedChains = p.certs, p.chains
	}
	return st
}

func (c *Conn) LocalAddr() net.Addr                { return c.nc.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.nc.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.nc.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.nc.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }
