package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/testkit"
)

// TestLastAndTimeStartsReadTheStream: on nodes whose memory windows hold 2
// messages, `last=5` and a start at a time get all 5 (3 read from the
// stream, over more than one span), on the publishing node and on a node
// that joined later, on every NATS version.
func TestLastAndTimeStartsReadTheStream(t *testing.T) {
	t.Parallel()
	onEveryNATSVersion(t, func(t *testing.T, url string) {
		small := func(c *hub.Config) { c.HistoryMessages = 2 }
		a := versionNode(t, url, "a", small)
		publish(t, a, "t/x", "before", false)
		since := time.Now()
		time.Sleep(time.Millisecond) // "before" is stamped before since
		publish(t, a, "t/x", "1", false)
		for i := range 300 { // more than LastN's first span apart
			publish(t, a, "other", fmt.Sprint(i), false)
		}
		last := publish(t, a, "t/x", "2", false)
		for _, p := range []string{"3", "4", "5"} {
			last = publish(t, a, "t/x", p, false)
		}
		late := versionNode(t, url, "late", small)
		for _, h := range []*hub.Hub{a, late} {
			testkit.Eventually(t, 10*time.Second, "the node delivered every message", func() bool { return h.Stats().Seq >= last.Seq })
			for _, from := range []hub.StartFrom{{Last: 5}, {Since: since}} {
				s := h.NewSubscription("test", hub.QueueLimits{})
				start, err := s.Subscribe([]string{"t/#"}, from)
				if err != nil || start.Gap {
					t.Fatal(err, start)
				}
				equal(t, receive(t, s, 5), "1", "2", "3", "4", "5")
			}
		}
	})
}
