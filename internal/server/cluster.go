package server

import (
	"context"
	"fmt"
	"log/slog"

	"streamhub/internal/cluster"
	"streamhub/internal/config"
	"streamhub/internal/transport/mqtt"
)

// openCluster connects this node to the NATS servers of its cluster.
// Topics of durable.streams are stored in JetStream (none: every topic).
func openCluster(cfg config.Cluster, durable []config.DurableStream, log *slog.Logger) (*cluster.JetStream, error) {
	var filters []string
	for _, d := range durable {
		filters = append(filters, d.Filter)
	}
	b, err := cluster.Open(context.Background(), cluster.Config{
		URLs: cfg.URLs, Node: cfg.Node, Replicas: cfg.Replicas, Prefix: cfg.Prefix, Creds: cfg.Creds, CA: cfg.CA, Durable: filters,
	}, log.With("node", cfg.Node))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	log.Info("joined the cluster", "node", cfg.Node, "nats", cfg.URLs, "epoch", b.Epoch())
	return b, nil
}

// available says whether this node can take publishes: nil (always) on a
// single node, while NATS is reachable on a cluster. It holds the broker
// itself, since Shutdown clears s.cluster.
func available(c *cluster.JetStream) func() bool {
	if c == nil {
		return nil
	}
	return c.Connected
}

// mqttCluster is what MQTT shares with the other nodes: nil on a single
// node (a nil interface, not a nil pointer).
func mqttCluster(c *cluster.JetStream) (mqtt.Cluster, error) {
	if c == nil {
		return nil, nil
	}
	m, err := c.MQTT(context.Background())
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return m, nil
}
