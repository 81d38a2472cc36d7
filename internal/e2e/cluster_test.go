package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/testkit"
)

// startTwoNodes runs a NATS server with JetStream in the test and two
// streamhub processes, nodes a and b, on it.
func startTwoNodes(t *testing.T) (a, b *runningServer, stopNATS func()) {
	t.Helper()
	nats := testkit.StartNATS(t)
	a = startBinary(t, "", "--cluster", nats.ClientURL(), "--node", "a")
	b = startBinary(t, "", "--cluster", nats.ClientURL(), "--node", "b")
	return a, b, nats.Shutdown
}

// publishOn posts payload to topic on a node and returns its status and
// the cursor it answered.
func publishOn(t *testing.T, base, topic, payload string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/v1/publish/"+topic, "text/plain", bytes.NewReader([]byte(payload)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct{ Cursor string }
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res.Cursor
}

func sseFrom(t *testing.T, ctx context.Context, url, lastEventID string) *testkit.SSEReader {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %s", resp.Status)
	}
	return testkit.NewSSEReader(resp.Body)
}

// waitUnready waits for the node at base to fail /readyz (NATS gone).
func waitUnready(t *testing.T, base string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, base+"/readyz failing without NATS", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
}

func expectEvents(t *testing.T, r *testkit.SSEReader, want ...string) {
	t.Helper()
	for _, w := range want {
		if ev, err := r.Next(); err != nil || ev.Data != w {
			t.Fatalf("got %+v %v, want %q", ev, err, w)
		}
	}
}

// TestClusterTwoNodes runs two streamhub processes on one NATS JetStream:
// an HTTP publish on A reaches an SSE subscriber on B; the cursor A
// answered resumes on B (Last-Event-ID); with NATS gone, B's /readyz fails
// and a publish on A is answered 503 instead of being lost.
func TestClusterTwoNodes(t *testing.T) {
	t.Parallel()
	a, b, stopNATS := startTwoNodes(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	status, first := publishOn(t, a.url, "room/1", "one")
	if status != http.StatusOK || first == "" {
		t.Fatalf("publish on A: %d %q", status, first)
	}
	live := sseFrom(t, ctx, b.url+"/v1/subscribe?topic=room/%23&from=1", "")
	expectEvents(t, live, "one")
	publishOn(t, a.url, "room/2", "two")
	expectEvents(t, live, "two")

	publishOn(t, a.url, "room/3", "three")
	resumed := sseFrom(t, ctx, b.url+"/v1/subscribe?topic=room/%23", first)
	expectEvents(t, resumed, "two", "three")

	stopNATS()
	waitUnready(t, b.url)
	if status, _ := publishOn(t, a.url, "room/4", "lost?"); status != http.StatusServiceUnavailable {
		t.Fatalf("publish without NATS: %d, want 503", status)
	}
}

// TestClusterNodeKilledLosesNothingAcknowledged: node A is killed with
// SIGKILL in the middle of a run of HTTP publishes; replaying the stream
// on node B holds every publish A acknowledged, exactly once, in order.
func TestClusterNodeKilledLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	a, b, _ := startTwoNodes(t)
	var acked []string
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(300 * time.Millisecond)
		a.cmd.Process.Signal(syscall.SIGKILL)
	}()
	for i := 0; ; i++ {
		payload := strconv.Itoa(i)
		resp, err := http.Post(a.url+"/v1/publish/k/"+payload, "text/plain", strings.NewReader(payload))
		if err != nil {
			break // A is gone
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			acked = append(acked, payload)
		}
	}
	<-killed
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the kill")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	replay := sseFrom(t, ctx, b.url+"/v1/subscribe?topic=k/%23&from=1", "")
	next := 0
	for next < len(acked) {
		ev, err := replay.Next()
		if err != nil {
			t.Fatalf("replay ended after %d of %d acknowledged: %v", next, len(acked), err)
		}
		if ev.Data != acked[next] {
			t.Fatalf("replay: got %q, want %q (%d of %d acknowledged)", ev.Data, acked[next], next, len(acked))
		}
		next++
	}
	t.Logf("%d publishes acknowledged before the kill, all replayed on the other node", len(acked))
}

// TestClusterMQTTAcrossNodes: a QoS 1 MQTT publish on node A reaches an
// MQTT subscriber on node B and an SSE subscriber on B.
func TestClusterMQTTAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _ := startTwoNodes(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got := make(chan string, 10)
	sub := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + b.mqtt).SetClientID("cluster-sub"))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("dev/#", 1, func(_ paho3.Client, m paho3.Message) { got <- string(m.Payload()) }); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	sse := sseFrom(t, ctx, b.url+"/v1/subscribe?topic=dev/%23", "")
	pub := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + a.mqtt).SetClientID("cluster-pub"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(0)
	if tok := pub.Publish("dev/1", 1, false, "over mqtt"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("publish on A not acknowledged", tok.Error())
	}
	select {
	case p := <-got:
		if p != "over mqtt" {
			t.Fatalf("MQTT on B got %q", p)
		}
	case <-ctx.Done():
		t.Fatal("nothing reached the MQTT subscriber on B")
	}
	expectEvents(t, sse, "over mqtt")
}
