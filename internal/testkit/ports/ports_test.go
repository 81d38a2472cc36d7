package ports

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

func TestFreeNIsDistinctAndListenable(t *testing.T) {
	got := FreeN(t, 5)
	seen := map[int]bool{}
	for _, p := range got {
		if seen[p] || p < 20000 || p >= 32768 {
			t.Fatalf("ports %v: want 5 distinct ones in [20000, 32768)", got)
		}
		seen[p] = true
	}
}

func TestRefusedIsRefused(t *testing.T) {
	_, err := net.Dial("tcp", Refused(t))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v, want connection refused", err)
	}
}
