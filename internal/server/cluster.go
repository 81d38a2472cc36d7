package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"streamhub/internal/cluster"
	"streamhub/internal/config"
	"streamhub/internal/core/store"
	"streamhub/internal/quote"
	"streamhub/internal/transport/mqtt"
)

// openCluster connects this node to the NATS servers of its cluster.
// Topics of durable.streams are stored in JetStream (none: every topic),
// bounded by the strictest of their retention (none: durable's default).
func openCluster(cfg config.Config, log *slog.Logger) (*cluster.JetStream, error) {
	var filters []string
	limits := []cluster.Limits{{Messages: cfg.Durable.Messages, Bytes: cfg.Durable.Bytes, Age: cfg.Durable.Age}}
	if streams := cfg.StoreStreams(); len(streams) > 0 {
		limits = limits[:0]
		for _, d := range streams {
			filters = append(filters, d.Filter)
			limits = append(limits, cluster.Limits{Messages: d.Messages, Bytes: d.Bytes, Age: d.Age})
		}
	}
	strictest := cluster.Strictest(limits...)
	if slices.ContainsFunc(limits, func(l cluster.Limits) bool { return l != strictest }) {
		log.Warn("durable streams on a cluster share one JetStream stream: the strictest retention applies to all",
			"messages", strictest.Messages, "bytes", strictest.Bytes, "age", strictest.Age)
	}
	cc := cfg.Cluster
	b, err := cluster.Open(context.Background(), cluster.Config{
		URLs: cc.URLs, Node: cc.Node, Replicas: cc.Replicas, Prefix: cc.Prefix, Creds: cc.Creds, CA: cc.CA,
		Durable: filters, Limits: strictest,
	}, log.With("node", cc.Node))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	log.Info("joined the cluster", "node", cc.Node, "nats", quote.URLs(cc.URLs), "epoch", b.Epoch())
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

// mqttSessions is where MQTT keeps its session records and how its
// sessions and $share groups reach other nodes: on a cluster the
// engine's key-value bucket, handovers and queue groups; on a node alone
// the data directory's records (without one, MQTT keeps them in memory)
// and nothing to reach.
func mqttSessions(c *cluster.JetStream, st *store.Store) (mqtt.Config, error) {
	if c == nil {
		if st == nil {
			return mqtt.Config{}, nil
		}
		return mqtt.Config{Sessions: st.Sessions()}, nil
	}
	m, err := c.MQTT(context.Background())
	if err != nil {
		return mqtt.Config{}, fmt.Errorf("server: %w", err)
	}
	return mqtt.Config{Sessions: m, Nodes: m, Sharing: m}, nil
}
