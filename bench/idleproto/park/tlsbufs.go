package main

import (
	"bytes"
	"crypto/tls"
	"net"
	"reflect"
	"unsafe"
)

// cappedReads reads the socket at most max bytes at a time, to see whether
// crypto/tls's rawInput grows less when each read is small.
type cappedReads struct {
	net.Conn
	max int
}

func (c *cappedReads) Read(p []byte) (int, error) {
	if len(p) > c.max {
		p = p[:c.max]
	}
	return c.Conn.Read(p)
}

// The offsets of tls.Conn's read-side buffers (unexported fields; looked
// up by name so that a renamed field panics at start rather than writes
// elsewhere).
var rawInputOff, inputOff, handOff = tlsField("rawInput"), tlsField("input"), tlsField("hand")

func tlsField(name string) uintptr {
	f, ok := reflect.TypeFor[tls.Conn]().FieldByName(name)
	if !ok {
		panic("tls.Conn has no field " + name)
	}
	return f.Offset
}

// dropTLSBuffers zeroes tls.Conn's rawInput, input and hand, so that the
// arrays they keep after the handshake can be collected. DIAGNOSTIC ONLY:
// it writes crypto/tls's private state, and is only safe when nothing is
// buffered and no goroutine is in Read or the handshake, which holds here
// (called after drainTLS, by the only reader, before parking). It measures
// what a TLS layer that gives its read buffers back while idle would save;
// crypto/tls has no API for it.
func dropTLSBuffers(tc *tls.Conn) {
	base := unsafe.Pointer(tc)
	raw := (*bytes.Buffer)(unsafe.Add(base, rawInputOff))
	hand := (*bytes.Buffer)(unsafe.Add(base, handOff))
	input := (*bytes.Reader)(unsafe.Add(base, inputOff))
	if raw.Len() != 0 || hand.Len() != 0 || input.Len() != 0 {
		return // records still buffered: keep them
	}
	*raw = bytes.Buffer{}
	*input = bytes.Reader{}
	*hand = bytes.Buffer{}
}
