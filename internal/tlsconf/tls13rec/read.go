package tls13rec

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
)

func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	if tc := c.delegate(); tc != nil {
		return tc.Read(p)
	}
	if c.parked.Load() {
		c.parked.Store(false)
	}
	if len(p) == 0 {
		return 0, nil
	}
	in := &c.in
	in.mu.Lock()
	defer in.mu.Unlock()
	n, err := c.readLocked(p)
	if in.ps == in.pe && in.r == in.w {
		in.release()
	}
	return n, err
}

// readLocked fills p with plaintext: at least one byte, waiting for a
// record if none is buffered, and then what records already buffered give
// without waiting.
func (c *Conn) readLocked(p []byte) (int, error) {
	in := &c.in
	n := 0
	for n < len(p) {
		if in.ps < in.pe {
			k := copy(p[n:], (*in.buf)[in.ps:in.pe])
			in.ps += int32(k)
			n += k
			continue
		}
		if in.err.get() != nil {
			break
		}
		if !in.recordBuffered() {
			if n > 0 {
				break
			}
			if err := in.fill(c.nc); err != nil {
				if isTimeout(err) {
					return 0, err // not sticky: a later read goes on
				}
				in.err.set(c.fail(err))
				break
			}
			continue
		}
		if err := c.readRecord(); err != nil {
			in.err.set(c.fail(err))
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, in.err.get()
}

// isTimeout reports a deadline's error, which leaves the stream intact.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fail sends the alert an error calls for and returns the error the
// reader keeps.
func (c *Conn) fail(err error) error {
	var le *localError
	if errors.As(err, &le) && le.alert != 0 {
		c.out.mu.Lock()
		c.sendAlertLocked(le.alert)
		c.out.mu.Unlock()
	}
	return err
}

// recordBuffered reports whether a whole record is buffered.
func (in *inbound) recordBuffered() bool {
	if in.w-in.r < headerLen {
		return false
	}
	n := int32(binary.BigEndian.Uint16((*in.buf)[in.r+3:]))
	return in.w-in.r >= headerLen+n
}

// fill reads from the socket once, into a buffer large enough for the
// record under way (or a header). A header announcing more than a record
// may hold fails here, before anything is read for it.
func (in *inbound) fill(nc net.Conn) error {
	need := int32(headerLen)
	if in.w-in.r >= headerLen {
		n := int32(binary.BigEndian.Uint16((*in.buf)[in.r+3:]))
		if n > maxCiphertext {
			return newAlert(alertRecordOverflow, "record of %d bytes", n)
		}
		need += n
	}
	switch {
	case in.buf == nil:
		in.buf, in.r, in.w = smallBufs.Get().(*[]byte), 0, 0
	case in.r == in.w:
		in.r, in.w = 0, 0
	}
	if int(need) > len(*in.buf) {
		large := largeBufs.Get().(*[]byte)
		in.w = int32(copy(*large, (*in.buf)[in.r:in.w]))
		in.r = 0
		smallBufs.Put(in.buf)
		in.buf = large
	} else if int32(len(*in.buf))-in.r < need {
		in.w = int32(copy(*in.buf, (*in.buf)[in.r:in.w]))
		in.r = 0
	}
	n, err := nc.Read((*in.buf)[in.w:])
	in.w += int32(n)
	switch {
	case n > 0:
		return nil
	case err == io.EOF && in.r != in.w:
		return io.ErrUnexpectedEOF // inside a record
	case err == nil:
		return io.ErrNoProgress
	}
	return err
}

// release gives the buffer back; it must hold nothing.
func (in *inbound) release() {
	if in.buf == nil {
		return
	}
	if len(*in.buf) == largeBuf {
		largeBufs.Put(in.buf)
	} else {
		smallBufs.Put(in.buf)
	}
	in.buf, in.r, in.w, in.ps, in.pe = nil, 0, 0, 0, 0
}

// readRecord opens the buffered record at in.r and handles its content:
// data becomes the plaintext to read, alerts and KeyUpdate are acted on.
func (c *Conn) readRecord() error {
	in := &c.in
	buf := *in.buf
	hdr := buf[in.r : in.r+headerLen]
	body := buf[in.r+headerLen : in.r+headerLen+int32(binary.BigEndian.Uint16(hdr[3:]))]
	in.r += headerLen + int32(len(body))
	typ, content, err := c.open(hdr, body)
	if err != nil {
		return err
	}
	if typ != typeHandshake && in.hsN > 0 {
		return newAlert(alertUnexpectedMessage, "handshake message interleaved with a record of type %d", typ)
	}
	switch typ {
	case typeApplicationData:
		if len(content) == 0 {
			return in.uselessRecord()
		}
		in.useless = 0
		in.ps = in.r - int32(len(body))
		in.pe = in.ps + int32(len(content))
		return nil
	case typeAlert:
		// Alerts are never fragmented nor coalesced (RFC 8446, section 5.1).
		if len(content) != 2 {
			return newAlert(alertDecodeError, "alert of %d bytes", len(content))
		}
		switch alert(content[1]) {
		case alertCloseNotify:
			return io.EOF
		case alertUserCanceled:
			return in.uselessRecord() // as crypto/tls: a close_notify should follow
		}
		return &net.OpError{Op: "remote error", Err: alert(content[1])}
	case typeHandshake:
		if len(content) == 0 {
			return newAlert(alertUnexpectedMessage, "empty handshake record")
		}
		return c.handshakeMessage(content)
	}
	return newAlert(alertUnexpectedMessage, "record of type %d after the handshake", typ)
}

// open authenticates and decrypts a record in place (RFC 8446, sections
// 5.2–5.4) and returns its inner content type and content.
func (c *Conn) open(hdr, body []byte) (byte, []byte, error) {
	in := &c.in
	switch hdr[0] {
	case typeApplicationData:
	case typeChangeCipherSpec:
		// Allowed only before the peer's Finished (RFC 8446, section 5).
		return 0, nil, newAlert(alertUnexpectedMessage, "change_cipher_spec after the handshake")
	default:
		return 0, nil, newAlert(alertUnexpectedMessage, "unprotected record of type %d", hdr[0])
	}
	// legacy_record_version is ignored (RFC 8446, section 5.1); it is
	// authenticated below as part of the header.
	if in.seq == math.MaxUint64 {
		return 0, nil, errors.New("tls13rec: read sequence number exhausted")
	}
	if err := in.derive(c.suite.get()); err != nil {
		return 0, nil, err
	}
	if len(body) < in.keys.aead.Overhead() {
		return 0, nil, newAlert(alertBadRecordMAC, "record shorter than its tag")
	}
	nonce := nonce(&in.keys.iv, in.seq)
	plain, err := in.keys.aead.Open(body[:0], nonce[:], body, hdr)
	if err != nil {
		return 0, nil, newAlert(alertBadRecordMAC, "record does not authenticate")
	}
	in.seq++
	if len(plain) > maxPlaintext+1 {
		return 0, nil, newAlert(alertRecordOverflow, "plaintext of %d bytes", len(plain))
	}
	// The content type is the last non-zero byte; zeros after it are
	// padding (RFC 8446, section 5.4).
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, newAlert(alertUnexpectedMessage, "record without a content type")
	}
	return plain[i], plain[:i], nil
}

func (in *inbound) uselessRecord() error {
	in.useless++
	if in.useless > maxUseless {
		return newAlert(alertUnexpectedMessage, "too many records without data")
	}
	return nil
}

// handshakeMessage takes a post-handshake message's bytes. A client may
// send only KeyUpdate (it never gets a CertificateRequest after the
// handshake, and NewSessionTicket is the server's); a KeyUpdate changes
// the key, so it must end its record (RFC 8446, section 5.1).
func (c *Conn) handshakeMessage(b []byte) error {
	in := &c.in
	for len(b) > 0 {
		k := copy(in.hs[in.hsN:], b)
		in.hsN += uint8(k)
		b = b[k:]
		if in.hs[0] != handshakeKeyUpdate {
			return newAlert(alertUnexpectedMessage, "handshake message of type %d after the handshake", in.hs[0])
		}
		if in.hsN >= 4 && (in.hs[1] != 0 || in.hs[2] != 0 || in.hs[3] != 1) {
			return newAlert(alertDecodeError, "KeyUpdate of the wrong length")
		}
		if int(in.hsN) < keyUpdateLen {
			continue
		}
		in.hsN = 0
		if len(b) > 0 {
			return newAlert(alertUnexpectedMessage, "KeyUpdate not at the end of its record")
		}
		requested := in.hs[4]
		if requested > 1 {
			return newAlert(alertIllegalParameter, "KeyUpdate request %d", requested)
		}
		if err := in.uselessRecord(); err != nil {
			return err
		}
		if err := in.update(c.suite.get()); err != nil {
			return err
		}
		if requested == 1 {
			c.out.mu.Lock()
			err := c.keyUpdateLocked()
			c.out.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
