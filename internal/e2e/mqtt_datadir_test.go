package e2e

import (
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestMQTTSessionsOfADataDirectoryBeforeRevisions: a data directory that
// the server wrote before session records had revisions (main at e9d408e:
// two persistent sessions, device-7 over 3.1.1 and device-5 over 5.0,
// each with two QoS 1 messages queued on a durable topic, then a graceful
// stop) loads its sessions: each is present, gets its queued messages and
// the ones published since, and is present again after a restart of the
// server that wrote it with revisions.
func TestMQTTSessionsOfADataDirectoryBeforeRevisions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/data-before-revisions")); err != nil {
		t.Fatal(err)
	}
	const long = 200000 * time.Hour // the sessions' expiry, and the messages' retention
	mutate := func(c *config.Config) {
		c.Data = dir
		c.Durable.Streams = []config.DurableStream{{Filter: "fleet/#", Age: long}}
		c.MQTT.Sessionexpiry = long
	}
	type client struct {
		id, topic string
		want      []string
	}
	clients := []client{
		// device-7's filter, fleet/+/cmd, takes device-5's commands too.
		{id: "device-7", topic: "fleet/7/cmd", want: []string{"before 1", "five 1", "before 2", "five 2", "after"}},
		{id: "device-5", topic: "fleet/5/x", want: []string{"five 1", "five 2", "after"}},
	}
	for round := range 2 { // the second time with the records the first wrote
		s := testkit.Start(t, mutate)
		for _, c := range clients {
			var mu sync.Mutex
			var got []string
			opts := paho3.NewClientOptions().AddBroker("tcp://" + s.MQTT().Addr("mqtt").String()).
				SetClientID(c.id).SetCleanSession(false).SetAutoReconnect(false).
				SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
					mu.Lock()
					got = append(got, string(m.Payload()))
					mu.Unlock()
				})
			pc := paho3.NewClient(opts)
			tok := pc.Connect()
			if tok.Wait() && tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			if !tok.(*paho3.ConnectToken).SessionPresent() {
				t.Fatalf("round %d: session %s not present", round, c.id)
			}
			want := []string{"after"}
			if round == 0 {
				want = c.want
			}
			httpPublish(t, s.URL, c.topic, []byte("after"), "")
			testkit.Eventually(t, 10*time.Second, c.id+"'s messages", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) >= len(want)
			})
			mu.Lock()
			// At least once: a QoS 1 message whose PUBACK the client had not
			// sent when it disconnected comes again after the restart.
			if !slices.Equal(slices.Compact(got), want) {
				t.Errorf("round %d: %s got %q, want %q", round, c.id, got, want)
			}
			mu.Unlock()
			pc.Disconnect(100)
		}
		s.Stop(t)
	}
}
