package tlsconf

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// bytesConn is a net.Conn that reads from a byte slice (the fuzz target's
// input); nothing else is called on it.
type bytesConn struct {
	net.Conn
	r *bytes.Reader
}

func (c bytesConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// FuzzHelloSplitter: whatever the client sends, crypto/tls reads the same
// stream, with the first record's payload, when it is a handshake record
// of a valid size, cut into records of the same type and version of at most
// helloRecordMax bytes.
func FuzzHelloSplitter(f *testing.F) {
	hello := append([]byte{22, 3, 1, 0x05, 0xdc}, bytes.Repeat([]byte{1}, 1500)...)
	f.Add(append(hello, 23, 3, 3, 0, 2, 'h', 'i'))
	f.Add([]byte{22, 3, 1, 0, 0})
	f.Add([]byte{22, 3, 1, 0x40, 0x01, 1, 2})
	f.Add([]byte{23, 3, 3, 0, 1, 9})
	f.Add([]byte{0x80, 0x2e, 1, 3, 1})
	f.Add([]byte{22, 3})
	f.Add(append([]byte{22, 3, 1, 0, 100}, bytes.Repeat([]byte{7}, 60)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := io.ReadAll(&helloSplitter{Conn: bytesConn{r: bytes.NewReader(in)}})
		if err != nil {
			t.Fatal(err)
		}
		cut := len(in) >= recordHeaderLen && in[0] == recordTypeHandshake
		n := 0
		if cut {
			n = int(binary.BigEndian.Uint16(in[3:]))
			cut = n > 0 && n <= maxPlaintextRecord && len(in) >= recordHeaderLen+n
		}
		if !cut {
			if !bytes.Equal(out, in) {
				t.Fatalf("passed through %x as %x", in, out)
			}
			return
		}
		var payload []byte
		rest := out
		for len(payload) < n {
			if len(rest) < recordHeaderLen || !bytes.Equal(rest[:3], in[:3]) {
				t.Fatalf("cut record header %x, want type and version %x", rest[:min(len(rest), recordHeaderLen)], in[:3])
			}
			k := int(binary.BigEndian.Uint16(rest[3:]))
			if k == 0 || k > helloRecordMax || len(rest) < recordHeaderLen+k {
				t.Fatalf("cut record of %d bytes (%d left)", k, len(rest)-recordHeaderLen)
			}
			payload = append(payload, rest[recordHeaderLen:recordHeaderLen+k]...)
			rest = rest[recordHeaderLen+k:]
		}
		if !bytes.Equal(payload, in[recordHeaderLen:recordHeaderLen+n]) || !bytes.Equal(rest, in[recordHeaderLen+n:]) {
			t.Fatal("cut records do not carry the first record and the rest unchanged")
		}
	})
}
