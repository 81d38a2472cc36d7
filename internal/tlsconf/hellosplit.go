package tlsconf

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
)

// NewListener is tls.NewListener with each connection's ClientHello cut
// into small records before crypto/tls reads it (see Server).
func NewListener(inner net.Listener, cfg *tls.Config) net.Listener {
	return tls.NewListener(splittingListener{inner}, cfg)
}

// Server is tls.Server reading the client's first record, the ClientHello,
// cut into records of at most helloRecordMax bytes, doubling in size so
// that crypto/tls's handshake buffer ends near the message's size.
//
// Why: crypto/tls keeps two read buffers for a connection's life, and they
// never shrink: rawInput holds one whole record, hand one whole handshake
// message. A ClientHello with a post-quantum key share (Go's and browsers'
// default, X25519MLKEM768) is over 1.2 KB in one record, which left
// rawInput at 2,048 B per idle connection; cut, it stays at its first
// 576 B, and hand stays as large as uncut. Measured with 15,000 parked
// connections: 1.4 KB less live heap, 3.1 KB less RSS each
// (docs/BENCHMARKS.md, "Issue 29: idle TLS connections"). TLS lets a
// handshake message span records (RFC 8446 section 5.1; RFC 5246 6.2.1)
// and crypto/tls reassembles it: the handshake and its transcript are
// unchanged. Only the first record is touched, and only when it is a
// handshake record of a valid size; anything else passes through as it
// came, for crypto/tls to answer.
func Server(nc net.Conn, cfg *tls.Config) *tls.Conn {
	return tls.Server(&helloSplitter{Conn: nc}, cfg)
}

type splittingListener struct{ net.Listener }

func (l splittingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &helloSplitter{Conn: nc}, nil
}

const (
	recordHeaderLen     = 5
	recordTypeHandshake = 22
	maxPlaintextRecord  = 16384
	// helloRecordMax keeps a record with its header within the 576 B that
	// crypto/tls's record buffer starts with.
	helloRecordMax = 512
)

// helloSplitter is the net.Conn under crypto/tls that cuts the first record.
type helloSplitter struct {
	net.Conn
	pending []byte // cut records not yet read
	started bool   // the first record has been read
}

// NetConn returns the connection underneath.
func (c *helloSplitter) NetConn() net.Conn { return c.Conn }

// SyscallConn is the socket's, so that code reaching the socket through
// tls.Conn.NetConn (non-blocking writes, parking) still finds it.
func (c *helloSplitter) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("tlsconf: connection has no socket")
	}
	return sc.SyscallConn()
}

func (c *helloSplitter) Read(p []byte) (int, error) {
	if !c.started {
		c.started = true
		if err := c.readFirstRecord(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) == 0 {
		return c.Conn.Read(p)
	}
	// One record per Read, so that crypto/tls's buffer holds one at a time.
	rec := c.pending
	if len(rec) >= recordHeaderLen {
		if l := recordHeaderLen + int(binary.BigEndian.Uint16(rec[3:])); l <= len(rec) {
			rec = rec[:l]
		}
	}
	n := copy(p, rec)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return n, nil
}

// readFirstRecord reads the first record and keeps it, cut when it is a
// handshake record, in pending.
func (c *helloSplitter) readFirstRecord() error {
	var hdr [recordHeaderLen]byte
	if n, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
		c.pending = hdr[:n] // let crypto/tls see what came and the error after it
		if n > 0 {
			return nil
		}
		return err
	}
	n := int(binary.BigEndian.Uint16(hdr[3:]))
	if hdr[0] != recordTypeHandshake || n == 0 || n > maxPlaintextRecord {
		c.pending = hdr[:]
		return nil
	}
	body := make([]byte, n)
	if k, err := io.ReadFull(c.Conn, body); err != nil {
		c.pending = append(hdr[:], body[:k]...) // short: crypto/tls reports it
		return nil
	}
	c.pending = cutRecord(hdr, body, helloRecordMax)
	return nil
}

// cutRecord returns body as records of at most max bytes each, with hdr's
// type and version. The cuts follow how crypto/tls's hand buffer grows as
// it appends each record's payload: a bytes.Buffer that doubles when full,
// so equal small records would leave it at up to twice the message's size.
// The records come in doubling runs instead, L/2^k, L/2^k, L/2^(k-1), ...
// L/2 (each run cut again at max), so that each doubling ends where a run
// ends and the last lands near L. Only memory depends on this; any cut is a
// valid record stream.
func cutRecord(hdr [recordHeaderLen]byte, body []byte, max int) []byte {
	out := make([]byte, 0, len(body)+(len(body)/max+8)*recordHeaderLen)
	emit := func(run []byte) {
		for len(run) > 0 {
			k := min(len(run), max)
			out = append(out, hdr[0], hdr[1], hdr[2], byte(k>>8), byte(k))
			out = append(out, run[:k]...)
			run = run[k:]
		}
	}
	// The first run at most max, and above bytes.Buffer's 64-byte start.
	first := len(body)
	for first > max && first/2 > 64 {
		first = (first + 1) / 2
	}
	run := first
	emit(body[:run])
	body = body[run:]
	for len(body) > 0 {
		k := min(run, len(body))
		emit(body[:k])
		body = body[k:]
		run *= 2
	}
	return out
}
