package server

import (
	"log/slog"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"streamhub/internal/config"
	"streamhub/internal/testkit/natstest"
)

// TestJoinedClusterLogHidesPassword: the "joined the cluster" line shows
// the NATS URL without its password.
func TestJoinedClusterLogHidesPassword(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t, func(o *natsserver.Options) { o.Username, o.Password = "streamhub", "s3cret-pw" })
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
