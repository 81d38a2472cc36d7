package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestRetainedWildcard100k: an MQTT subscription with a wildcard over
// 100,000 retained topics gets every one of them.
func TestRetainedWildcard100k(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 100,000 retained messages")
	}
	t.Parallel()
	s := testkit.Start(t, nil)
	const n = 100_000
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
	c := paho3.NewClient(opts)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	start := time.Now()
	if tok := c.Subscribe("fleet/+/state", 1, nil); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	testkit.Eventually(t, 60*time.Second, "100,000 retained messages", func() bool { return got.Load() == n })
	t.Logf("100,000 retained messages over a wildcard in %v", time.Since(start))
}
