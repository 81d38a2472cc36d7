package cluster_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/testkit"
)

// TestAutoReplicas: with replicas unset, one NATS server gives streams 1
// replica; a node given one URL of a 3-server cluster learns the other two
// from it and gives 3.
func TestAutoReplicas(t *testing.T) {
	t.Parallel()
	open := func(url string) *cluster.JetStream {
		b, err := cluster.Open(context.Background(), cluster.Config{URLs: []string{url}, Node: "a", Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	if got := open(testkit.StartNATS(t).ClientURL()).Replicas(); got != 1 {
		t.Fatalf("one server: %d replicas", got)
	}
	servers := testkit.StartNATSCluster(t, 3)
	if got := open(servers[0].ClientURL()).Replicas(); got != 3 {
		t.Fatalf("a cluster of three: %d replicas", got)
	}
}
