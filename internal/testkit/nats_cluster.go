package testkit

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"streamhub/internal/testkit/ports"
)

// StartNATSCluster runs n NATS servers with JetStream, routed to each other
// as one cluster, inside the test process on free loopback ports, until the
// test ends (or Shutdown of each). It returns once JetStream has a meta
// leader that knows all n servers, so streams with n replicas can be
// created (before, their placement fails: "no suitable peers").
func StartNATSCluster(t testing.TB, n int) []*natsserver.Server {
	t.Helper()
	clusterPorts := ports.FreeN(t, n)
	routes := make([]*url.URL, n)
	for i, p := range clusterPorts {
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)}
	}
	servers := make([]*natsserver.Server, n)
	for i := range servers {
		s, err := natsserver.NewServer(&natsserver.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: natsserver.ClusterOpts{Name: "streamhub-test", Host: "127.0.0.1", Port: clusterPorts[i]},
			Routes:  routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(s.Shutdown)
		servers[i] = s
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats not ready")
		}
	}
	Eventually(t, 30*time.Second, "a JetStream meta leader with every server", func() bool {
		for _, s := range servers {
			if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == n {
				return true
			}
		}
		return false
	})
	return servers
}

// FreePort returns a free loopback port (ports.Free).
func FreePort(t testing.TB) int {
	t.Helper()
	return ports.Free(t)
}
