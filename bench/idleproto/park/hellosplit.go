package main

// A copy of internal/tlsconf's helloSplitter (tlsconf.NewListener and
// tlsconf.Server), with the record size a flag: this module cannot import
// the server's packages without taking in its go.mod. See there for why.

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
)

const (
	recordHeaderLen     = 5
	recordTypeHandshake = 22
	maxPlaintextRecord  = 16384
)

// helloSplitter is the net.Conn under crypto/tls that cuts the first record.
type helloSplitter struct {
	net.Conn
	max     int    // bytes of payload per cut record
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
	c.pending = cutRecord(hdr, body, c.max)
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
