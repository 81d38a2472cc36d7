package mqtt

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

// TestDelayedWillDueAsTheSessionExpires: a delayed will whose delay ends
// with the session's expiry is fired once whichever timer runs first; the
// expiry may delete the record between the will's timer taking the will
// and claiming it, and the will is this node's still (TestRandomSessionSequences
// found it lost so: seed 1796627380886600733, sequence 109). The
// interleaving is played step by step.
func TestDelayedWillDueAsTheSessionExpires(t *testing.T) {
	node := clusterNode{newFakeCluster(), "a"}
	for name, cfg := range map[string]Config{
		"alone":             {SessionExpiryMax: time.Hour},
		"node of a cluster": {SessionExpiryMax: time.Hour, Sessions: node, Nodes: node},
	} {
		t.Run(name, func(t *testing.T) {
			h := quietHub(t)
			s := New(h, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nopMeter{})
			s.afterFunc = (&fakeClock{}).afterFunc
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			dropWithDelayedWill(t, s, "dev")
			ss := s.session("dev")

			ss.mu.Lock() // the will's timer takes the will (willDue)...
			bound := ss.bound
			var will *message.Message
			if a := ss.away; a != nil {
				will = a.delayed
				a.willTimer, a.delayed = nil, nil
			}
			ss.mu.Unlock()
			if will == nil {
				t.Fatal("no delayed will")
			}
			s.expire(ss, bound) // ...the expiry ends the session and deletes its record...
			if rec, _, _ := s.cfg.Sessions.Load(t.Context(), "dev"); rec != nil {
				t.Fatalf("the ended session's record is still there: %s", rec)
			}
			if !s.claimWill(ss) { // ...and then the will's timer claims it
				t.Fatal("the will of a session that ended here was not this node's to fire")
			}
		})
	}
}
