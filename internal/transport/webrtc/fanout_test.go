package webrtc

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"streamhub/internal/core/message"
	"streamhub/internal/testkit/poll"
)

// BenchmarkFanout publishes into the hub and counts what reaches peers
// data channels on the topic, reliable or unreliable; clients and server
// share the process, so the CPU figure is both sides'.
//
//	go test ./internal/transport/webrtc -run '^$' -bench Fanout -benchtime 2000x
func BenchmarkFanout(b *testing.B) {
	for _, peers := range []int{10, 100} {
		b.Run(strconv.Itoa(peers)+"peers", func(b *testing.B) { benchFanout(b, peers) })
	}
}

func benchFanout(b *testing.B, peers int) {
	_, h, url := startServer(b, func(c *Config) { c.Queue.Messages, c.Queue.Bytes = 1<<20, 1<<30 })
	var got atomic.Int64
	for range peers {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { udp.Close() })
		se := clientSettings()
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, udp))
		pc, channels := dial(b, url, se, []string{"bench/fanout"})
		channels[0].OnMessage(func(webrtc.DataChannelMessage) { got.Add(1) })
		b.Cleanup(func() { pc.Close() })
	}
	poll.Eventually(b, 30*time.Second, "subscriptions", func() bool { return h.Stats().Subscriptions == peers })
	payload := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := h.Publish(context.Background(), &message.Message{Topic: "bench/fanout", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N * peers)
	poll.Eventually(b, 60*time.Second, "deliveries", func() bool { return got.Load() >= want })
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "deliveries/s")
}
