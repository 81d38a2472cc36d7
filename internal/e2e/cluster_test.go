package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"streamhub/internal/testkit"
)

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
	nats := testkit.StartNATS(t)
	a := startBinary(t, t.TempDir(), "--cluster", nats.ClientURL(), "--node", "a")
	b := startBinary(t, t.TempDir(), "--cluster", nats.ClientURL(), "--node", "b")
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

	nats.Shutdown()
	testkit.Eventually(t, 10*time.Second, "B's /readyz failing without NATS", func() bool {
		resp, err := http.Get(b.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if status, _ := publishOn(t, a.url, "room/4", "lost?"); status != http.StatusServiceUnavailable {
		t.Fatalf("publish without NATS: %d, want 503", status)
	}
}
