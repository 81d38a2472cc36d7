// Package poll waits for conditions in tests without sleeping a guessed
// time. It imports nothing of streamhub, so a transport's own tests can use
// it (testkit imports the server, and with it every transport).
package poll

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
