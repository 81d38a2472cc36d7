//go:build linux

package sockconn

import (
	"testing"
	"unsafe"
)

// Every idle plain connection holds a Conn: it stays in the 80-byte size
// class (docs/IDLE.md, the state diet).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 80 {
		t.Fatalf("sockconn.Conn is %d bytes, want at most 80", n)
	}
}
