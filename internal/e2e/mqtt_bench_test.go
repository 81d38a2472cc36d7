package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// countPublishes reads MQTT packets from r and counts PUBLISHes.
func countPublishes(r *bufio.Reader, n *atomic.Int64) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return
		}
		size, _, err := packets.DecodeLength(r)
		if err != nil {
			return
		}
		if _, err := r.Discard(size); err != nil {
			return
		}
		if b>>4 == packets.Publish {
			n.Add(1)
		}
	}
}

// benchMQTTFanOut: subscribers raw MQTT 3.1.1 connections at QoS 0 on one
// topic; messages of 100 bytes published into the hub.
func benchMQTTFanOut(b *testing.B, subscribers int) {
	s := testkit.Start(b, func(c *config.Config) { c.MQTT.Queue = 1 << 16; c.MQTT.Sys = 0 })
	var delivered atomic.Int64
	var wg sync.WaitGroup
	for i := range subscribers {
		nc, r := rawMQTT(b, s, 4, fmt.Sprintf("sub-%d", i))
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
			Filters: packets.Subscriptions{{Filter: "bench/x"}}}
		writePacket(b, nc, &pk)
		wg.Add(1)
		go func() { defer wg.Done(); countPublishes(r, &delivered) }()
	}
	s.WaitSubscribers(b, "bench/x", subscribers)
	payload := bytes.Repeat([]byte("x"), 100)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.Hub().Publish(ctx, &message.Message{Topic: "bench/x", Payload: payload})
		if i%1000 == 999 {
			for delivered.Load() < int64(i-2000)*int64(subscribers) {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	want := int64(b.N) * int64(subscribers)
	for delivered.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(want), "ns/delivery")
}

func BenchmarkMQTT1to1(b *testing.B)   { benchMQTTFanOut(b, 1) }
func BenchmarkMQTT1to100(b *testing.B) { benchMQTTFanOut(b, 100) }
