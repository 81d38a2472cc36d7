package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestCloseWaitsForReads: a store closed while readers iterate (a
// subscriber's replay during shutdown) waits for them, and reads after it
// answer ErrClosed; pebble, closed under an open iterator, panicked the
// process instead.
func TestCloseWaitsForReads(t *testing.T) {
	s := open(t, t.TempDir(), Stream{Filter: "d/#"})
	now := time.Now()
	for i := range 200 {
		put(t, s, uint64(i+1), "d/x", "p", now)
	}
	var wg sync.WaitGroup
	started := make(chan struct{})
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if i == 0 && r == 0 {
					close(started)
				}
				if _, _, _, err := s.Replay([]string{"d/#"}, 0, 1<<62, 1000); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("replay: %v", err)
					}
					return
				}
				if _, _, err := s.LastN([]string{"d/#"}, 50, 1<<62); err != nil {
					return
				}
			}
		}()
	}
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := s.Retained(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Retained after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Sessions().Save(context.Background(), "c", []byte("x"), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("saving a session after Close: %v, want ErrClosed", err)
	}
}
