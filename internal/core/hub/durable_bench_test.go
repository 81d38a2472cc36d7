package hub_test

import (
	"context"
	"log/slog"
	"testing"

	"streamhub/internal/core/engine/local"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/store"
)

// BenchmarkDurablePublish: concurrent publishers on a durable topic, each
// acknowledged only after fsync; concurrent publishes share fsyncs.
func BenchmarkDurablePublish(b *testing.B) {
	for _, mode := range []struct {
		name     string
		interval bool
	}{{"fsync-per-commit", false}, {"interval", true}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := store.Config{Dir: b.TempDir(), Streams: []store.Stream{{Filter: "bench/#"}}}
			if mode.interval {
				cfg.Interval = 1e9
			}
			st, err := store.Open(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			h, err := hub.New(hub.Defaults(), slog.New(slog.DiscardHandler), nil, local.New(st, nil))
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 100)
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Publish(context.Background(), &message.Message{Topic: "bench/x", Payload: payload, QoS: 1}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.StopTimer()
			h.Close()
			st.Close()
		})
	}
}
