package server

import (
	"context"
	"fmt"
	"log/slog"

	"streamhub/internal/cluster"
	"streamhub/internal/config"
)

// openCluster connects this node to the NATS servers of its cluster.
func openCluster(cfg config.Cluster, log *slog.Logger) (*cluster.JetStream, error) {
	b, err := cluster.Open(context.Background(), cluster.Config{
		URLs: cfg.URLs, Node: cfg.Node, Replicas: cfg.Replicas, Prefix: cfg.Prefix, Creds: cfg.Creds, CA: cfg.CA,
	}, log.With("node", cfg.Node))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	log.Info("joined the cluster", "node", cfg.Node, "nats", cfg.URLs, "epoch", b.Epoch())
	return b, nil
}
