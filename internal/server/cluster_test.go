package server

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"streamhub/internal/config"
)

// TestJoinedClusterLogHidesPassword: the "joined the cluster" line shows
// the NATS URL without its password.
func TestJoinedClusterLogHidesPassword(t *testing.T) {
	t.Parallel()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, Username: "streamhub", Password: "s3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	cfg := config.Defaults()
	cfg.Cluster.URLs = []string{strings.Replace(ns.ClientURL(), "nats://", "nats://streamhub:s3cret-pw@", 1)}
	cfg.Cluster.Node = "a"
	var out syncBuffer
	b, err := openCluster(cfg, slog.New(slog.NewTextHandler(&out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if log := out.String(); !strings.Contains(log, "joined the cluster") || strings.Contains(log, "s3cret-pw") || !strings.Contains(log, "streamhub:xxxxx@") {
		t.Errorf("log %q, want the joined line with the NATS URL's password hidden", log)
	}
}
