//go:build linux

package idlepoll

import (
	"testing"
	"time"
)

// A handle parked again with the same deadline (MQTT's moves once a
// quarter of its keep-alive) is listed once in its tick's timers, and
// still woken by it.
func TestParkAgainSameDeadlineListedOnce(t *testing.T) {
	p := newPoller(t)
	s, c := pair(t)
	woke := make(chan struct{}, 4)
	h, _ := p.Register(rawConn(t, s), func() { woke <- struct{}{} })
	at := time.Now().Add(2 * time.Second)
	if err := h.Park(at); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("x")) // input wakes it; its timer entry stays
	wait(t, woke, "wake on input")
	s.Read(make([]byte, 1))
	if err := h.Park(at); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	n := 0
	for _, hs := range p.timers {
		n += len(hs)
	}
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d timer entries for one parked handle, want 1", n)
	}
	wait(t, woke, "wake at the deadline")
}
