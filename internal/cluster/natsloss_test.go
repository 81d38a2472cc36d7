package cluster_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"streamhub/internal/cluster"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestNATSNodeLossLosesNothingAcknowledged: on a 3-node NATS cluster with
// replicas 3, the NATS server leading the message stream is shut down in
// the middle of a run of publishes; publishing goes on (through
// another server, each unacknowledged publish sent again), and a node joining later on a surviving server replays
// every acknowledged publish from the stream.
func TestNATSNodeLossLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	servers := testkit.StartNATSCluster(t, 3)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	cc := func(name string, urls ...string) cluster.Config {
		return cluster.Config{URLs: urls, Node: name, Replicas: 3, Timeout: 2 * time.Second}
	}
	a, _ := nodeWith(t, cc("a", urls...))
	const total, killAt = 300, 100
	var acked []string
	for i := range total {
		if i == killAt {
			shutdownStreamLeader(t, servers)
		}
		p := strconv.Itoa(i)
		// As a client would: an unacknowledged publish is sent again.
		testkit.Eventually(t, 15*time.Second, "publish "+p+" acknowledged", func() bool {
			_, err := a.Publish(context.Background(), &message.Message{Topic: "t", Payload: []byte(p)})
			return err == nil
		})
		acked = append(acked, p)
	}

	var surviving []string
	for _, s := range servers {
		if s.Running() {
			surviving = append(surviving, s.ClientURL())
		}
	}
	late, _ := nodeWith(t, cc("late", surviving...))
	s := late.NewSubscription("test", hub.QueueLimits{})
	if _, err := s.Subscribe([]string{"t"}, hub.StartFrom{After: &message.Cursor{Epoch: late.Epoch()}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(got) < len(acked) {
		select {
		case <-s.Ready():
			for _, d := range s.Drain(nil) {
				got[string(d.Msg.Payload)] = true
			}
		case <-deadline:
			t.Fatalf("replayed %d distinct messages, %d acknowledged (subscription: %v)", len(got), len(acked), s.Err())
		}
	}
	for _, p := range acked {
		if !got[p] {
			t.Fatalf("acknowledged %s missing", p)
		}
	}
}

// shutdownStreamLeader shuts down the NATS server that leads the message
// stream: the one whose loss a publish notices most.
func shutdownStreamLeader(t *testing.T, servers []*natsserver.Server) {
	t.Helper()
	var leader *natsserver.Server
	testkit.Eventually(t, 10*time.Second, "a leader of the stream STREAMHUB", func() bool {
		for _, s := range servers {
			if s.JetStreamIsStreamLeader(natsserver.DEFAULT_GLOBAL_ACCOUNT, "STREAMHUB") {
				leader = s
				return true
			}
		}
		return false
	})
	leader.Shutdown()
}
