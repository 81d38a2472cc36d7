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

// NATSVersion runs one NATS server version with JetStream for a test.
type NATSVersion struct {
	Name string
	// Start runs the server until the test ends and returns its client
	// URL; it skips the test when this version is not installed.
	Start func(t testing.TB) string
}

// NATSVersions are the NATS servers the cluster must run on: the module's
// (go.mod, in process) and Debian's package (2.9.10 on Debian 12, what
// `apt install nats-server` gives), as a process.
func NATSVersions() []NATSVersion {
	return []NATSVersion{
		{Name: "module", Start: func(t testing.TB) string { return StartNATS(t).ClientURL() }},
		{Name: "debian", Start: func(t testing.TB) string { return StartNATSProcess(t, DebianNATSServer(t)).URL }},
	}
}
