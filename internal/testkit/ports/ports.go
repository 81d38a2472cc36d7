// Package ports finds loopback ports for tests: free ones for a program
// that must be told its port before it listens (nats-server processes,
// cluster routes), and refused ones to dial something that is not there.
// It imports nothing of streamhub, so any package's tests can use it.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
)

// Free returns a loopback port free when asked, below Linux's ephemeral
// range (32768 and up), so that no outgoing connection of a parallel test
// takes it before the program meant to listen on it does. A server that
// can listen on port 0 and report its address should do that instead.
func Free(t testing.TB) int {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// FreeN returns n distinct free loopback ports (Free).
func FreeN(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		if p := Free(t); !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// Refused returns a loopback address ("127.0.0.1:PORT") where nothing
// listens: a dial there is refused at once, for tests of what a client
// does when its server is not there.
func Refused(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Free(t))
}
