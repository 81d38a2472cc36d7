package tls13rec

import (
	"crypto/tls"
	"testing"
	"time"
)

// TestSessionResumption: the server's session tickets, sealed by
// crypto/tls with the application key before the switch, reach Go's
// client, whose next connection resumes with one; the switched records
// follow the tickets (a wrong sequence number would fail the first
// record the client reads).
func TestSessionResumption(t *testing.T) {
	t.Parallel()
	switched := make(chan bool, 2)
	addr, pool, _ := serve(t, echo(switched))
	cache := tls.NewLRUClientSessionCache(4)
	for i, wantResumed := range []bool{false, true} {
		tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ClientSessionCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		_ = tc.SetDeadline(time.Now().Add(time.Minute))
		if !<-switched {
			t.Fatalf("connection %d did not switch", i)
		}
		// The echo's first record comes after the tickets: reading it
		// also reads the tickets, which fill the cache.
		roundTrip(t, tc, random(t, 5000), 1000)
		if got := tc.ConnectionState().DidResume; got != wantResumed {
			t.Fatalf("connection %d resumed: %v, want %v", i, got, wantResumed)
		}
		tc.Close()
	}
}
