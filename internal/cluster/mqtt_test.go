package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

func mqttOf(t *testing.T, b *cluster.JetStream) *cluster.MQTT {
	t.Helper()
	m, err := b.MQTT(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMQTTHandover: the holder's handler runs before the asker returns;
// asking a node that is not there fails at once, not after the wait.
func TestMQTTHandover(t *testing.T) {
	t.Parallel()
	nats := testkit.StartNATS(t)
	_, a := node(t, nats.ClientURL(), "a")
	_, b := node(t, nats.ClientURL(), "b")
	ma, mb := mqttOf(t, a), mqttOf(t, b)
	var handed []string
	var mu sync.Mutex
	stop, err := ma.ServeHandovers(func(key string) {
		mu.Lock()
		handed = append(handed, key)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := mb.Handover(context.Background(), "a", "\x00bob\x00c.1"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(handed) != 1 || handed[0] != "\x00bob\x00c.1" {
		t.Fatalf("handed over %q", handed)
	}
	mu.Unlock()
	start := time.Now()
	if err := mb.Handover(context.Background(), "gone", "c"); err == nil {
		t.Fatal("a handover from a node that is not there succeeded")
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("asking a missing node took %v", d)
	}
}

// TestMQTTShareOnce: two nodes in one queue group get each message of the
// filter once between them, durable and not; other topics and $-topics
// under a leading wildcard do not reach them.
func TestMQTTShareOnce(t *testing.T) {
	t.Parallel()
	nats := testkit.StartNATS(t)
	ha, a := nodeWith(t, cluster.Config{URLs: []string{nats.ClientURL()}, Node: "a", Timeout: time.Second, Durable: []string{"d/#"}})
	_, b := nodeWith(t, cluster.Config{URLs: []string{nats.ClientURL()}, Node: "b", Timeout: time.Second, Durable: []string{"d/#"}})
	var mu sync.Mutex
	got := map[string]int{}
	for _, n := range []*cluster.JetStream{a, b} {
		stop, err := mqttOf(t, n).Share("$share/g/+/x", "+/x", func(m *message.Message) {
			mu.Lock()
			got[m.Topic]++
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	for range 20 {
		publish(t, ha, "d/x", "durable", false)
		publish(t, ha, "n/x", "not durable", false)
	}
	publish(t, ha, "d/y", "other", false)
	publish(t, ha, "$SYS/x", "system", false)
	testkit.Eventually(t, 5*time.Second, "40 shared messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["d/x"]+got["n/x"] >= 40
	})
	time.Sleep(100 * time.Millisecond) // a second copy would come right behind
	mu.Lock()
	defer mu.Unlock()
	if got["d/x"] != 20 || got["n/x"] != 20 || len(got) != 2 {
		t.Fatalf("delivered %v, want d/x and n/x 20 times each", got)
	}
}

// TestMQTTAcrossNATSServers: on a 3-node NATS cluster with replicas 3, a
// session record written through one server is read (at its revision)
// through another, and a handover asked through a third reaches the node
// holding the session.
func TestMQTTAcrossNATSServers(t *testing.T) {
	t.Parallel()
	servers := testkit.StartNATSCluster(t, 3)
	cc := func(name string, s int) cluster.Config {
		return cluster.Config{URLs: []string{servers[s].ClientURL()}, Node: name, Replicas: 3, Timeout: 2 * time.Second}
	}
	_, a := nodeWith(t, cc("a", 0))
	_, b := nodeWith(t, cc("b", 2))
	ma, mb := mqttOf(t, a), mqttOf(t, b)
	ctx := context.Background()
	rev, err := ma.Save(ctx, "dev", []byte("record"), 0)
	if err != nil {
		t.Fatalf("save through server 0: %v", err)
	}
	// A new bucket's interest crosses the NATS routes on its own time too.
	testkit.Eventually(t, 10*time.Second, "the record through server 2", func() bool {
		got, r, err := mb.Load(ctx, "dev")
		return err == nil && string(got) == "record" && r == rev
	})
	handed := make(chan string, 1)
	stop, err := ma.ServeHandovers(func(key string) { handed <- key })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// The interest crosses the NATS routes on its own time.
	testkit.Eventually(t, 10*time.Second, "a handover through another server", func() bool {
		return mb.Handover(ctx, "a", "dev") == nil
	})
	if key := <-handed; key != "dev" {
		t.Fatalf("handed over %q", key)
	}
}
