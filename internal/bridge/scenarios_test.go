package bridge_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
	"streamhub/internal/testkit/poll"
)

// TestBridgeNoLoop: two streamhubs bridged to one Mosquitto, each sending
// and receiving the same topics (shared/#), face each other through it.
// Each message reaches the other server once and never comes back to its
// own (MQTT 5 no-local; MQTT 3.1.1 bridge protocol level), and nothing
// circulates: the bridges' counters hold exactly what was published.
func TestBridgeNoLoop(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			mq := testkit.StartMosquitto(t, testkit.MosquittoOptions{})
			remote := newTally()
			remoteClient(t, mq.URL(), "watcher", "shared/#", remote)
			facing := func(id string) func(*config.Config, *config.Bridge) {
				return func(c *config.Config, b *config.Bridge) {
					b.Clientid = "bridge-" + id
					b.In = []config.BridgeTopic{{Remote: "shared/#", QoS: 1}}
					b.Out = []config.BridgeTopic{{Remote: "shared/#", QoS: 1}}
				}
			}
			a, b := startBridged(t, mq.URL(), v, facing("a")), startBridged(t, mq.URL(), v, facing("b"))
			atA, atB := localTally(t, a, "shared/#"), localTally(t, b, "shared/#")
			waitUp(t, a, true)
			waitUp(t, b, true)
			publishLocal(t, a, "shared/a", ids(0, 50))
			publishLocal(t, b, "shared/b", ids(100, 150))
			// A last message from each side, once the rest were sent: a
			// loop would have repeated the earlier ones by the time these
			// arrive everywhere.
			publishLocal(t, a, "shared/a", []int{998})
			publishLocal(t, b, "shared/b", []int{999})
			all := append(append(ids(0, 50), ids(100, 150)...), 998, 999)
			for name, ty := range map[string]*tally{"a": atA, "b": atB, "mosquitto": remote} {
				poll.Eventually(t, wait, "every message at "+name, func() bool { return ty.has(all) })
			}
			poll.Eventually(t, wait, "every message acknowledged", func() bool {
				return bridgeStatus(t, a)[0].Queued == 0 && bridgeStatus(t, b)[0].Queued == 0
			})
			atA.exactlyOnce(t, "at a", all, false)
			atB.exactlyOnce(t, "at b", all, false)
			remote.exactlyOnce(t, "at mosquitto", all, false)
			for name, s := range map[string]*testkit.Server{"a": a, "b": b} {
				if st := bridgeStatus(t, s)[0]; st.Out != 51 || st.In != 51 {
					t.Errorf("bridge of %s: out %d, in %d; want 51 each", name, st.Out, st.In)
				}
			}
		})
	}
}

// TestBridgeTransports: the bridge reaches Mosquitto over TLS (the
// remote's certificate checked against a CA, the bridge's own client
// certificate required) and over WebSocket, in both directions.
func TestBridgeTransports(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	serverCert, serverKey, _ := ca.Issue(dir, "127.0.0.1", false)
	clientCert, clientKey, _ := ca.Issue(dir, "bridge", true)
	for _, v := range versions {
		for _, transport := range []string{"mqtts", "ws"} {
			t.Run(transport+"-"+v, func(t *testing.T) {
				t.Parallel()
				mq := testkit.StartMosquitto(t, testkit.MosquittoOptions{CertFile: serverCert, KeyFile: serverKey, CAFile: ca.File,
					WebSockets: true})
				remoteOut := newTally()
				pub := remoteClient(t, mq.URL(), "watcher", "edge/out/#", remoteOut)
				s := startBridged(t, "", v, func(_ *config.Config, b *config.Bridge) {
					if transport == "mqtts" {
						b.URL = fmt.Sprintf("mqtts://127.0.0.1:%d", mq.TLSPort)
						b.CA, b.Cert, b.Key = ca.File, clientCert, clientKey
					} else {
						b.URL = fmt.Sprintf("ws://127.0.0.1:%d/mqtt", mq.WSPort)
					}
				})
				localIn := localTally(t, s, "in/#")
				waitUp(t, s, true)
				if err := publishRemote(pub, "edge/in", ids(0, 20)); err != nil {
					t.Fatal(err)
				}
				publishLocal(t, s, "out", ids(0, 20))
				crossOnce(t, remoteOut, localIn, ids(0, 20))
			})
		}
	}
}

// TestBridgeMemoryQueueBounded: without a data directory, outgoing
// messages wait in a bounded queue while the remote is away; the oldest
// beyond it are dropped and counted, the rest delivered in order.
func TestBridgeMemoryQueueBounded(t *testing.T) {
	t.Parallel()
	mq := testkit.StartMosquitto(t, testkit.MosquittoOptions{})
	remoteOut := newTally()
	remoteClient(t, mq.URL(), "watcher", "edge/out/#", remoteOut)
	s := startBridged(t, mq.URL(), "5", func(c *config.Config, b *config.Bridge) {
		c.Data, c.Durable.Streams = "", nil
		b.Queue = 10
	})
	waitUp(t, s, true)
	mq.Stop()
	waitUp(t, s, false)
	publishLocal(t, s, "out", ids(0, 30))
	if st := bridgeStatus(t, s)[0]; st.Durable || st.Queued != 10 || st.Dropped != 20 {
		t.Errorf("while away: %+v; want 10 queued, 20 dropped, not durable", st)
	}
	mq.Start()
	poll.Eventually(t, wait, "the queued messages", func() bool { return remoteOut.has(ids(20, 30)) })
	poll.Eventually(t, wait, "every message acknowledged", func() bool { return bridgeStatus(t, s)[0].Queued == 0 })
	remoteOut.exactlyOnce(t, "local → remote", ids(20, 30), true)
	if m := get(t, s.URL+"/metrics"); !strings.Contains(m, `streamhub_bridge_dropped_total{bridge="b"} 20`) {
		t.Error("/metrics does not count the 20 dropped")
	}
}

// TestBridgeResumesAfterRestart: with durable outgoing topics, messages
// published while the remote was away wait in the store across a restart
// of streamhub, and leave once from the last acknowledged cursor.
func TestBridgeResumesAfterRestart(t *testing.T) {
	t.Parallel()
	mq := testkit.StartMosquitto(t, testkit.MosquittoOptions{})
	remoteOut := newTally()
	remoteClient(t, mq.URL(), "watcher", "edge/out/#", remoteOut)
	data := filepath.Join(t.TempDir(), "data")
	withData := func(c *config.Config, _ *config.Bridge) { c.Data = data }
	s := startBridged(t, mq.URL(), "3.1.1", withData)
	waitUp(t, s, true)
	publishLocal(t, s, "out", ids(0, 10))
	poll.Eventually(t, wait, "the first messages", func() bool { return remoteOut.has(ids(0, 10)) })
	poll.Eventually(t, wait, "every message acknowledged", func() bool { return bridgeStatus(t, s)[0].Queued == 0 })
	mq.Stop()
	waitUp(t, s, false)
	publishLocal(t, s, "out", ids(10, 60))
	s.Stop(t)
	mq.Start()
	s = startBridged(t, mq.URL(), "3.1.1", withData)
	poll.Eventually(t, wait, "the stored messages", func() bool { return remoteOut.has(ids(0, 60)) })
	poll.Eventually(t, wait, "every message acknowledged", func() bool { return bridgeStatus(t, s)[0].Queued == 0 })
	remoteOut.exactlyOnce(t, "local → remote", ids(0, 60), true)
}

// TestBridgeToStreamhub: the remote broker is another streamhub (its MQTT
// listener, which takes a 3.1.1 bridge's protocol level 0x84 as Mosquitto
// does); messages cross both ways, once.
func TestBridgeToStreamhub(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			remote := testkit.Start(t, nil)
			url := "mqtt://" + remote.MQTT().Addr("mqtt").String()
			remoteOut := localTally(t, remote, "edge/out/#")
			s := startBridged(t, url, v, nil)
			localIn := localTally(t, s, "in/#")
			waitUp(t, s, true)
			publishLocal(t, remote, "edge/in", ids(0, 50))
			publishLocal(t, s, "out", ids(0, 50))
			crossOnce(t, remoteOut, localIn, ids(0, 50))
		})
	}
}

// TestBridgeIncomingRefused: a message the hub refuses (larger than
// limits.payload) is acknowledged to the remote, counted as dropped, and
// does not hold up the next.
func TestBridgeIncomingRefused(t *testing.T) {
	t.Parallel()
	mq := testkit.StartMosquitto(t, testkit.MosquittoOptions{})
	s := startBridged(t, mq.URL(), "5", func(c *config.Config, _ *config.Bridge) { c.Limits.Payload = 64 })
	localIn := localTally(t, s, "in/#")
	waitUp(t, s, true)
	pub := remoteClient(t, mq.URL(), "publisher", "", nil)
	if tok := pub.Publish("edge/in/big", 1, false, strings.Repeat("9", 100)); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if err := publishRemote(pub, "edge/in", []int{1}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, wait, "the next message", func() bool { return localIn.has([]int{1}) })
	if st := bridgeStatus(t, s)[0]; st.In != 1 || st.Dropped != 1 {
		t.Errorf("status %+v: want 1 in, 1 dropped", st)
	}
}
