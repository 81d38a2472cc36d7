// Package natstest runs a NATS server inside a test. It is apart from
// testkit, which starts streamhub servers, so that the tests of packages
// testkit depends on (cluster, server) can use it too.
package natstest

import (
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Start runs a NATS server with JetStream on a free loopback port with its
// store in a temporary directory, until the test ends (or Shutdown);
// mutate, if not nil, changes its options first (auth, limits).
func Start(t testing.TB, mutate func(*natsserver.Options)) *natsserver.Server {
	t.Helper()
	opts := &natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true}
	if mutate != nil {
		mutate(opts)
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}
