package tls13rec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// memConn is a connection whose input is a fixed byte string and whose
// output is dropped: the record decoder's input under fuzzing.
type memConn struct{ r *bytes.Reader }

func (m memConn) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (m memConn) Close() error                     { return nil }
func (m memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m memConn) SetDeadline(time.Time) error      { return nil }
func (m memConn) SetReadDeadline(time.Time) error  { return nil }
func (m memConn) SetWriteDeadline(time.Time) error { return nil }

// readAll reads a switched server connection over input until it ends;
// it must end with an error (io.EOF for a clean end), never a panic.
func readAll(t *testing.T, id uint16, input []byte) {
	c := switched(memConn{bytes.NewReader(input)}, id, false)
	buf := make([]byte, 100)
	for range len(input) + 2 {
		n, err := c.Read(buf[:1+len(input)%len(buf)])
		if err != nil {
			if n != 0 {
				t.Fatalf("%d bytes with error %v", n, err)
			}
			return
		}
		if n == 0 {
			t.Fatal("a read returned nothing and no error")
		}
	}
	t.Fatal("reads went on past the input")
}

// seedPeer is the peer of readAll's connection, for sealing seeds.
func seedPeer(id uint16) *Conn { return switched(memConn{bytes.NewReader(nil)}, id, true) }

// FuzzRecords feeds any byte stream to the record reader: headers that
// lie about their length, cut records, forged tags, and (seeds) valid
// records of each kind.
func FuzzRecords(f *testing.F) {
	p := seedPeer(tls.TLS_AES_128_GCM_SHA256)
	data := sealFor(f, p, typeApplicationData, []byte("hello"), 0)
	f.Add(data)
	f.Add(append(bytes.Clone(data), sealFor(f, p, typeApplicationData, []byte("world"), 20)...))
	f.Add(append(bytes.Clone(data), sealFor(f, p, typeHandshake, []byte{24, 0, 0, 1, 1}, 0)...))
	f.Add(append(bytes.Clone(data), sealFor(f, p, typeAlert, []byte{1, 0}, 0)...))
	f.Add([]byte{23, 3, 3, 0xff, 0xff})
	f.Add([]byte{23, 3, 3, 0, 0})
	f.Add([]byte{20, 3, 3, 0, 1, 1})
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Add(data[:len(data)-1])
	f.Fuzz(func(t *testing.T, input []byte) {
		readAll(t, tls.TLS_AES_128_GCM_SHA256, input)
	})
}

// FuzzInnerPlaintext seals whatever inner plaintext it is given (content,
// content type, padding, or none of them) in valid records, cut where the
// input says, so that what lies beneath the AEAD is fuzzed too: padding
// without a type, unknown types, alerts and handshake messages of any
// length, split or coalesced.
func FuzzInnerPlaintext(f *testing.F) {
	f.Add([]byte("hello\x17"), uint16(3), byte(0))
	f.Add([]byte("\x17\x00\x00\x00"), uint16(1), byte(1))
	f.Add([]byte{0, 0, 0}, uint16(0), byte(2))
	f.Add([]byte{24, 0, 0, 1, 1, 22}, uint16(2), byte(0))
	f.Add([]byte{24, 0, 0, 1, 0, 24, 0, 0, 1, 0, 22}, uint16(6), byte(1))
	f.Add([]byte{4, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 22}, uint16(5), byte(2))
	f.Add([]byte{1, 0, 21, 0}, uint16(0), byte(0))
	f.Add([]byte{2, 80, 21}, uint16(0), byte(1))
	f.Fuzz(func(t *testing.T, inner []byte, cut uint16, suite byte) {
		id := suites[int(suite)%len(suites)].id
		p := seedPeer(id)
		var stream []byte
		at := int(cut) % (len(inner) + 1)
		for _, part := range [][]byte{inner[:at], inner[at:], inner} {
			if len(part) > maxPlaintext+256 {
				part = part[:maxPlaintext+256]
			}
			stream = append(stream, sealRaw(t, p, typeApplicationData, part)...)
		}
		readAll(t, id, stream)
	})
}

// TestFuzzSeedsEnd: the fuzzers' property on a few inputs that reach deep:
// each stream ends in an error or EOF.
func TestFuzzSeedsEnd(t *testing.T) {
	p := seedPeer(tls.TLS_CHACHA20_POLY1305_SHA256)
	s := sealFor(t, p, typeApplicationData, []byte("x"), 0)
	s = append(s, sealFor(t, p, typeAlert, []byte{1, 0}, 0)...)
	c := switched(memConn{bytes.NewReader(s)}, tls.TLS_CHACHA20_POLY1305_SHA256, false)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "x" {
		t.Fatalf("%q, %v", got, err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after close_notify: %v", err)
	}
}
