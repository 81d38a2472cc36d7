package cluster_test

import (
	"slices"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/core/hub"
	"streamhub/internal/testkit"
)

// versionNode is a node on the NATS server at url.
func versionNode(t *testing.T, url, name string, configure ...func(*hub.Config)) *hub.Hub {
	t.Helper()
	h, _ := nodeWith(t, cluster.Config{URLs: []string{url}, Node: name, Timeout: 2 * time.Second}, configure...)
	return h
}

// onEveryNATSVersion runs test, in parallel, on each NATS server version
// the cluster must run on (testkit.NATSVersions), given its URL.
func onEveryNATSVersion(t *testing.T, test func(t *testing.T, url string)) {
	t.Helper()
	for _, v := range testkit.NATSVersions() {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			test(t, v.Start(t))
		})
	}
}

// TestRetainedOnEveryNATSVersion: with a retained message stored, a
// second node starts and a node restarts, both with the retained
// message, on the module's NATS server and on Debian's 2.9.10 (which
// refused the retained stream's "last per subject" consumer without a
// filter subject: error 10094, and the node did not start).
func TestRetainedOnEveryNATSVersion(t *testing.T) {
	t.Parallel()
	onEveryNATSVersion(t, func(t *testing.T, url string) {
		a := versionNode(t, url, "a")
		publish(t, a, "door/1", "open", true)
		publish(t, a, "door/2", "shut", true)
		a.Close()
		for _, name := range []string{"b", "a"} { // a second node, then a restarted
			h := versionNode(t, url, name)
			s := h.NewSubscription("test", hub.QueueLimits{})
			if _, err := s.Subscribe([]string{"door/#"}, hub.StartFrom{Retained: true}); err != nil {
				t.Fatal(err)
			}
			got := receive(t, s, 2)
			slices.Sort(got) // retained messages come in no set order
			equal(t, got, "R:open", "R:shut")
		}
	})
}
