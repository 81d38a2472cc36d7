// Package loopback gives tests a TCP connection over loopback, both ends,
// for code that needs a real socket (deadlines, raw descriptors).
package loopback

import (
	"net"
	"testing"
)

// Pair connects a client to a listener on 127.0.0.1 and returns both
// ends; the test's cleanup closes them.
func Pair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
