package kit

import (
	"sync"
	"testing"
	"time"

	"streamhub/internal/testkit/poll"
)

// TestWorkersRunEveryTaskAndEnd: every task runs, a waiting worker takes
// the next one, and the workers end once idle.
func TestWorkersRunEveryTaskAndEnd(t *testing.T) {
	p := NewWorkers(10 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	for range 1000 {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			mu.Lock()
			ran++
			mu.Unlock()
		})
	}
	wg.Wait()
	if ran != 1000 {
		t.Fatalf("ran %d tasks, want 1000", ran)
	}
	// Once idle, no worker waits any more: a task finds none and starts one.
	poll.Eventually(t, 0, "workers ended", func() bool {
		select {
		case p.tasks <- func() {}:
			return false
		default:
			return true
		}
	})
	var nilWorkers *Workers
	done := make(chan struct{})
	nilWorkers.Go(func() { close(done) })
	<-done
}
