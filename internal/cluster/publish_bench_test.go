package cluster_test

import (
	"context"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// BenchmarkPublish compares a durable publish (a JetStream write and its
// acknowledgement) with a non-durable one (a core NATS subject), one node
// against an in-process NATS server.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name, topic string
	}{{"durable", "d/x"}, {"nondurable", "n/x"}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := testkit.StartNATS(b)
			h, _ := nodeWith(b, cluster.Config{URLs: []string{srv.ClientURL()}, Node: "a", Timeout: 5 * time.Second, Durable: []string{"d/#"}})
			payload := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Publish(context.Background(), &message.Message{Topic: bc.topic, Payload: payload}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
