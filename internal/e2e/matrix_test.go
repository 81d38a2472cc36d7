package e2e

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

type payload struct {
	name string
	data []byte
}

func matrixPayloads() []payload {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	mib := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range mib {
		mib[i] = byte(rng.Uint32())
	}
	return []payload{
		{"text", []byte("25")},
		{"json", []byte(`{"temperature":25.5,"unit":"°C","tags":["a","b"]}`)},
		{"multi-line", []byte("line one\nline two\n\nline four\n")},
		{"empty", []byte{}},
		{"all-bytes", all},
		{"1MiB-binary", mib},
	}
}

// TestCrossProtocolMatrix publishes every payload kind by every publishing
// protocol and checks that every subscribing protocol receives exactly those
// bytes, in order, and nothing its filter excludes, in memory (the default)
// and with a data directory whose durable stream stores every message
// before it is delivered. MQTT and raw TCP are driven by mosquitto_pub/sub
// and python3 sockets (matrix_peers_test.go).
func TestCrossProtocolMatrix(t *testing.T) {
	t.Parallel()
	testkit.EachEngine(t, crossProtocolMatrix) // JetStream: NATS refuses the 1 MiB payload with its topic (max_payload)
}

func crossProtocolMatrix(t *testing.T, e testkit.Engine) {
	publishers := []publisher{postPublisher(), wsJSONPublisher(), wsPlainPublisher(), cliPublisher(),
		mosquittoPublisher(), rawTCPPublisher()}
	subscribers := []subscriber{sseSubscriber(), ndjsonSubscriber(), longPollSubscriber(), wsJSONSubscriber(),
		wsPlainSubscriber(), cliSubscriber(), mosquittoSubscriber(), rawTCPSubscriber()}
	payloads := matrixPayloads()
	for _, pub := range publishers {
		t.Run("from-"+pub.name, func(t *testing.T) {
			t.Parallel()
			rawTCP := withRawTCPPorts(t, pub.name)
			s := testkit.StartOn(t, e, func(c *config.Config) {
				rawTCP(c)
				if e == testkit.Pebble {
					c.Durable.Streams = []config.DurableStream{{Filter: "matrix/#"}}
				}
			})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			name := "matrix/" + pub.name + "/data"
			filter := "matrix/" + pub.name + "/+"
			collectors := make([]*collector, len(subscribers))
			persistent := 0
			for i, sub := range subscribers {
				collectors[i] = &collector{}
				sub.start(ctx, t, s, filter, collectors[i])
				if sub.persistent {
					persistent++
				}
			}
			send := pub.open(t, s, name)
			if pub.name == "ws-plain" {
				persistent++ // the plain socket subscribes to its own topic
			}
			s.WaitFilters(t, persistent)
			for _, p := range payloads {
				// Decoys the filter must exclude.
				httpPublish(t, s.URL, "matrix/"+pub.name+"/data/deeper", []byte("decoy"), "")
				httpPublish(t, s.URL, "other/"+pub.name, []byte("decoy"), "")
				send(p.data)
			}
			for i, sub := range subscribers {
				c := collectors[i]
				testkit.Eventually(t, 30*time.Second, sub.name+" to receive every payload", func() bool {
					got, err := c.snapshot()
					return err != nil || len(got) >= len(payloads)
				})
				got, err := c.snapshot()
				if err != nil {
					t.Fatalf("%s → %s: %v", pub.name, sub.name, err)
				}
				if len(got) != len(payloads) {
					for _, g := range got {
						t.Logf("%s got %d bytes %.30q", sub.name, len(g.payload), g.payload)
					}
					t.Fatalf("%s → %s: got %d messages, want %d", pub.name, sub.name, len(got), len(payloads))
				}
				for j, p := range payloads {
					if !bytes.Equal(got[j].payload, p.data) {
						t.Errorf("%s → %s: payload %s differs: got %d bytes %.40q", pub.name, sub.name, p.name,
							len(got[j].payload), got[j].payload)
					}
					if got[j].topic != "" && got[j].topic != name {
						t.Errorf("%s → %s: topic %q, want %q", pub.name, sub.name, got[j].topic, name)
					}
				}
			}
		})
	}
}
