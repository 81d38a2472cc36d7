// Package poll waits for conditions in tests without sleeping a guessed
// time. It imports nothing of streamhub, so a transport's own tests can use
// it (testkit imports the server, and with it every transport).
package poll

import (
	"testing"
	"time"
)

// MinWait is the least time Eventually waits before failing: a bound
// costs nothing while cond comes true, and a busy machine (CI shares two
// cores among parallel tests) stretches what takes a second on a quiet
// one to many.
const MinWait = 30 * time.Second

// Eventually polls cond until it holds or timeout (at least MinWait)
// passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, MinWait)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Receive receives from ch, failing the test if nothing comes within
// MinWait (something stuck, not slow).
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(MinWait):
		t.Fatalf("timed out after %v waiting for %s", MinWait, what)
		var zero T
		return zero
	}
}
