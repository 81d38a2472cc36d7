package mqtt

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestPacketDueRoundTrips checks that a packet's deadline kept in 32 bits
// of milliseconds comes back never early and less than a millisecond
// late, however long the connection has lived (the marks wrap every 49
// days).
func TestPacketDueRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		since := time.Unix(0, rng.Int64N(1<<62))
		c := &conn{since: since.UnixNano()}
		now := since.Add(time.Duration(rng.Int64N(int64(400 * 24 * time.Hour))))
		due := now.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		c.packetDue = c.dueMark(due)
		if c.packetDue == 0 {
			t.Fatal("a deadline's mark is 0, which says none")
		}
		got := c.dueAt(now)
		if got.Before(due) || got.Sub(due) >= time.Millisecond {
			t.Fatalf("since %v now %v: due %v came back as %v", since, now, due, got)
		}
	}
}

func TestKeepAliveSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want uint16
	}{{0, 0}, {-time.Second, 0}, {time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {time.Minute, 60}, {100 * time.Hour, 65535}} {
		if got := keepAliveSeconds(tc.in); got != tc.want {
			t.Errorf("keepAliveSeconds(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
