package main

import (
	"encoding/binary"
	"io"
	"net"
)

// helloSplitter hands crypto/tls the client's first record, the
// ClientHello, cut into records of at most max bytes of payload, then
// passes the socket through. TLS lets a handshake message span records
// (RFC 8446 5.1) and crypto/tls reassembles it, so nothing changes but the
// capacity of crypto/tls's two read buffers, bytes.Buffers that never
// shrink: rawInput must hold one whole record (a ClientHello with a
// post-quantum key share is over 1.2 KB), hand the whole message.
type helloSplitter struct {
	net.Conn
	max     int
	pending []byte // records not yet handed over
	done    bool   // the first record is split and handed over
}

const (
	recordHeaderLen     = 5
	recordTypeHandshake = 22
	maxPlaintextRecord  = 16384
)

func (c *helloSplitter) Read(p []byte) (int, error) {
	if c.done && len(c.pending) == 0 {
		return c.Conn.Read(p)
	}
	if !c.done {
		c.done = true
		var hdr [recordHeaderLen]byte
		if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
			return 0, err
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if hdr[0] != recordTypeHandshake || n > maxPlaintextRecord {
			c.pending = hdr[:] // not ours to cut: crypto/tls answers it
		} else {
			body := make([]byte, n)
			if _, err := io.ReadFull(c.Conn, body); err != nil {
				return 0, err
			}
			c.pending = splitRecord(hdr, body, c.max)
		}
	}
	// One record per Read, so that crypto/tls's buffer holds one at a time.
	rec := c.pending
	if len(rec) >= recordHeaderLen {
		if l := recordHeaderLen + int(binary.BigEndian.Uint16(rec[3:])); l <= len(rec) {
			rec = rec[:l]
		}
	}
	k := copy(p, rec)
	c.pending = c.pending[k:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return k, nil
}

// splitRecord returns body as records of at most max bytes each, with hdr's
// type and version. The cuts follow the way hand grows as crypto/tls
// appends each record's payload: a bytes.Buffer that doubles when full, so
// equal small records would leave it up to twice the message's size. The
// records come in doubling runs instead, L/2^k, L/2^k, L/2^(k-1), ... L/2
// (each run cut again at max), so that every time hand doubles it ends
// where a run ends and its last doubling lands at about L. Only memory
// depends on this; any cut is a valid TLS record stream.
func splitRecord(hdr [recordHeaderLen]byte, body []byte, max int) []byte {
	out := make([]byte, 0, len(body)+(len(body)/max+8)*recordHeaderLen)
	emit := func(run []byte) {
		for len(run) > 0 {
			k := min(len(run), max)
			out = append(out, hdr[0], hdr[1], hdr[2], byte(k>>8), byte(k))
			out = append(out, run[:k]...)
			run = run[k:]
		}
	}
	// The first run at most max and above bytes.Buffer's 64-byte start.
	first := len(body)
	for first > max && first/2 > 64 {
		first = (first + 1) / 2
	}
	if first == len(body) {
		emit(body)
		return out
	}
	// Runs first, first, 2·first, 4·first, ... doubling up to the end.
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
