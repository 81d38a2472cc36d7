package e2e

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"streamhub/internal/testkit"
)

// TestFutureTimeStartLeavesTheServerAlive: a subscription from a time
// after the newest message held used to panic while holding the hub's
// lock, so that every publish after it hung until kill -9. Now it starts
// after everything held and the next publish reaches it.
func TestFutureTimeStartLeavesTheServerAlive(t *testing.T) {
	testkit.EachEngine(t, futureTimeStartLeavesTheServerAlive, testkit.Memory, testkit.Pebble, testkit.JetStream)
}

func futureTimeStartLeavesTheServerAlive(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, nil)
	post := func(body string) {
		t.Helper()
		// A bound only against a hang: a healthy server answers at once.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/publish/t", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("publish %q: %v", body, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("publish %q: %s", body, resp.Status)
		}
	}
	post("before")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/v1/subscribe?topic=t&from=2099-01-01T00:00:00Z", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %s", resp.Status)
	}
	s.WaitFilters(t, 1)
	post("after")
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		switch data, _ := strings.CutPrefix(sc.Text(), "data: "); data {
		case "before":
			t.Fatal("a start after every message held replayed one before it")
		case "after":
			return
		}
	}
	t.Fatalf("stream ended before the message published after it: %v", sc.Err())
}
