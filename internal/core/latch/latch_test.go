package latch

import (
	"sync"
	"testing"
	"time"
)

func TestLatchClosedBeforeAnyoneWaits(t *testing.T) {
	var l Latch
	if l.Closed() {
		t.Fatal("a new latch is closed")
	}
	l.Close()
	if !l.Closed() {
		t.Fatal("not closed after Close")
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
}

func TestLatchWakesWaiters(t *testing.T) {
	var l Latch
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); <-l.Done() }()
	}
	select {
	case <-l.Done():
		t.Fatal("Done closed before Close")
	default:
	}
	l.Close()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("waiters not woken by Close")
	}
	if !l.Closed() {
		t.Fatal("not closed after Close")
	}
}

// Done and Close racing: every Done call returns a channel that Close
// closed (run with -race).
func TestLatchDoneRacingClose(t *testing.T) {
	for range 200 {
		var l Latch
		got := make(chan (<-chan struct{}), 2)
		go func() { got <- l.Done() }()
		go func() { got <- l.Done() }()
		l.Close()
		for range 2 {
			select {
			case <-<-got:
			case <-time.After(10 * time.Second):
				t.Fatal("a Done channel was not closed")
			}
		}
	}
}
