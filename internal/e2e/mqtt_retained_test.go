package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestRetainedWildcardPastPacketIDs: an MQTT subscription with a
// wildcard over more retained topics than QoS 1 has packet ids (65,535)
// gets every one of them. It waits for as long as the messages keep
// coming, however busy the machine: the time it takes is measured by
// BenchmarkSubscribeRetained100k, not here (issue 24, item 20: with a
// 60 s bound it failed on a loaded machine).
func TestRetainedWildcardPastPacketIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 70,000 retained messages")
	}
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		// The cut-off of a client too slow to read is not tested here
		// (and neither is the store: in memory, the default): a Paho
		// client under the race detector on a loaded machine can take
		// longer than the default 10 s to read one write.
		c.MQTT.Writetimeout = 10 * time.Minute
	})
	const n = 70_000
	ctx := context.Background()
	for i := range n {
		s.Hub().Publish(ctx, &message.Message{Topic: fmt.Sprintf("fleet/%d/state", i), Payload: []byte("on"), Retain: true, QoS: 1})
	}
	var got atomic.Int64
	seen := make([]atomic.Bool, n)
	opts := paho3.NewClientOptions().AddBroker("tcp://" + s.MQTT().Addr("mqtt").String()).SetClientID("retained-reader").
		SetOrderMatters(false).SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
		var i int
		fmt.Sscanf(m.Topic(), "fleet/%d/state", &i)
		if m.Retained() && !seen[i].Swap(true) {
			got.Add(1)
		}
	})
	var lost atomic.Pointer[error]
	opts.SetAutoReconnect(false).SetConnectionLostHandler(func(_ paho3.Client, err error) { lost.Store(&err) })
	c := paho3.NewClient(opts)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	start := time.Now()
	if tok := c.Subscribe("fleet/+/state", 1, nil); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	testkit.Progressing(t, 2*time.Minute, "retained messages over a wildcard", func() (int64, bool) {
		if err := lost.Load(); err != nil {
			t.Fatalf("connection lost after %d retained messages: %v", got.Load(), *err)
		}
		return got.Load(), got.Load() == n
	})
	t.Logf("%d retained messages over a wildcard in %v", n, time.Since(start))
}
