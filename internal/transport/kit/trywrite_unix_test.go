//go:build unix

package kit_test

import (
	"net"
	"testing"
	"time"

	"streamhub/internal/transport/kit"
)

// TestWriteNowPastTheWriteDeadline: a write deadline left behind by the
// last blocking write, and passed while the connection was idle, does
// not fail a non-blocking write; it leaves the bytes to the writer that
// may wait (an MQTT connection used to be closed by its first packet
// after its write timeout had passed idle).
func TestWriteNowPastTheWriteDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := kit.WriteNow(kit.RawSocket(server), []byte("ping"))
	if err != nil || n != 0 {
		t.Fatalf("WriteNow past the deadline: %d, %v; want nothing written and no error", n, err)
	}
}
