package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"streamhub/internal/admin"
	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestClusterStatusShown: /metrics, the admin stats and $SYS name the
// node, its NATS peers and whether NATS is connected, and follow NATS
// going away.
func TestClusterStatusShown(t *testing.T) {
	t.Parallel()
	s, nats := startClusterNode(t, "node-a", func(c *config.Config) { c.Admin.Stats = 50 * time.Millisecond })
	peer := strings.TrimPrefix(nats.ClientURL(), "nats://")
	metricsHave := func(want ...string) bool {
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				return false
			}
		}
		return true
	}
	if !metricsHave(`streamhub_cluster_nats_connected{node="node-a"} 1`, `streamhub_cluster_peer{node="node-a",url="nats://`+peer+`"} 1`) {
		t.Error("/metrics without the node, its peer and NATS connected")
	}

	sys := sseFrom(t, t.Context(), s.URL+"/v1/subscribe?topic="+url.QueryEscape(admin.StatsTopic), "")
	ev, err := sys.Next()
	var st admin.Stats
	if err != nil || json.Unmarshal([]byte(ev.Data), &st) != nil || st.Cluster == nil ||
		st.Cluster.Node != "node-a" || !st.Cluster.NATSConnected || len(st.Cluster.Peers) == 0 {
		t.Fatalf("$SYS stats %q (%v), want the cluster's node, peers and NATS state", ev.Data, err)
	}

	nats.Shutdown()
	testkit.Eventually(t, 10*time.Second, "/metrics showing NATS disconnected", func() bool {
		return metricsHave(`streamhub_cluster_nats_connected{node="node-a"} 0`)
	})
	resp, err := http.Get(s.URL + "/v1/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Cluster == nil || st.Cluster.NATSConnected {
		t.Fatalf("admin stats %+v (%v), want NATS disconnected", st.Cluster, err)
	}
}
