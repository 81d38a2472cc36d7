package testkit

import (
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"streamhub/internal/testkit/natstest"
)

// StartNATS runs a NATS server with JetStream inside the test process, on
// a free loopback port with its store in a temporary directory, until the
// test ends (or Shutdown).
func StartNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	return natstest.Start(t, nil)
}
