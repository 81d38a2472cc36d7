package e2e

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"streamhub/internal/testkit"
)

// TestClusterOnEveryNATSVersion: on the module's NATS server and on
// Debian's (2.9.10: before, a node started once a retained message
// existed exited with error 10094), streamhub processes whose memory
// windows hold 2 messages: a second node starts after a retained message
// and five others were published, and the first node restarts; on both,
// the retained message is there, and `last=5` and `from=TIME` return all
// five over SSE, NDJSON and the TCP text protocol (before: the 2 the
// windows held, and no gap).
func TestClusterOnEveryNATSVersion(t *testing.T) {
	t.Parallel()
	for _, v := range testkit.NATSVersions() {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			nats := v.Start(t)
			cfg := filepath.Join(t.TempDir(), "streamhub.yaml")
			if err := os.WriteFile(cfg, []byte("history:\n  messages: 2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			start := func(name string) *clusterNode {
				tcp := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
				rs := startBinary(t, "", "--config", cfg, "--cluster", nats, "--node", name, "--tcp", tcp)
				return &clusterNode{runningServer: rs, name: name, tcp: tcp}
			}
			a := start("a")
			publishOn(t, a.url, "door/1?retain=true", "open")
			publishOn(t, a.url, "t/x", "before")
			since := time.Now()
			time.Sleep(time.Millisecond) // "before" is stamped before since
			for _, p := range []string{"1", "2", "3", "4", "5"} {
				publishOn(t, a.url, "t/x", p)
			}
			b := start("b")
			a.kill()
			a = start("a")
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			from := since.Format(time.RFC3339Nano)
			for _, n := range []*clusterNode{a, b} {
				expectEvents(t, sseFrom(t, ctx, n.url+"/v1/subscribe?topic=door/%23", ""), "open")
				for _, q := range []string{"last=5", "from=" + url.QueryEscape(from)} {
					expectEvents(t, sseFrom(t, ctx, n.url+"/v1/subscribe?topic=t/%23&"+q, ""), "1", "2", "3", "4", "5")
					nd := &collector{}
					resp := testkit.Get(t, ctx, n.url+"/v1/subscribe?topic=t/%23&"+q, "application/x-ndjson")
					go func() { defer resp.Body.Close(); readEnvelopes(resp.Body, nd) }()
					expectPayloads(t, "NDJSON "+q+" on "+n.name, nd, "1", "2", "3", "4", "5")
				}
				text := &collector{}
				textSubscriber(ctx, t, n.tcp, "t/#", from, text)
				expectPayloads(t, "TCP text FROM a time on "+n.name, text, "1", "2", "3", "4", "5")
			}
		})
	}
}

// expectPayloads waits until c holds len(want) messages and checks them.
func expectPayloads(t *testing.T, what string, c *collector, want ...string) {
	t.Helper()
	var got []string
	testkit.Eventually(t, 20*time.Second, what+": "+strconv.Itoa(len(want))+" messages", func() bool {
		msgs, err := c.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, m := range msgs {
			got = append(got, string(m.payload))
		}
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}
