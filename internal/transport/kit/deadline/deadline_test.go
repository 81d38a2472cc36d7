package deadline

import (
	"testing"
	"time"
)

func TestLazy(t *testing.T) {
	t.Parallel()
	var l Lazy
	t0 := time.Unix(1000, 0)
	if _, set := l.Next(t0, 0); set {
		t.Fatal("no span and no deadline: nothing to set")
	}
	at, set := l.Next(t0, 10*time.Second)
	if !set || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("first deadline %v %v", at, set)
	}
	if _, set := l.Next(t0.Add(2500*time.Millisecond), 10*time.Second); set {
		t.Fatal("three quarters of the span left: kept")
	}
	at, set = l.Next(t0.Add(2501*time.Millisecond), 10*time.Second)
	if !set || !at.Equal(t0.Add(12501*time.Millisecond)) {
		t.Fatalf("less than three quarters left: moved, got %v %v", at, set)
	}
	if at, set := l.Next(t0, 0); !set || !at.IsZero() {
		t.Fatal("span zero clears a deadline once")
	}
	if _, set := l.Next(t0, 0); set {
		t.Fatal("cleared already")
	}
}

func TestExpired(t *testing.T) {
	t.Parallel()
	var l Lazy
	now := time.Unix(1000, 0)
	if l.Expired(now) {
		t.Fatal("no deadline expired")
	}
	l.Next(now, time.Second)
	if l.Expired(now.Add(time.Second - 1)) {
		t.Fatal("expired before its time")
	}
	if !l.Expired(now.Add(time.Second)) {
		t.Fatal("not expired at its time")
	}
	if l.Expired(now.Add(time.Hour)) || !l.At().IsZero() {
		t.Fatal("an expired deadline is not forgotten")
	}
	if _, set := l.Next(now.Add(time.Hour), time.Second); !set {
		t.Fatal("the next write's deadline is not set")
	}
}
