package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/testkit"
)

// startNodes runs streamhub nodes of the given names as processes on one
// NATS server with JetStream.
func startNodes(t *testing.T, names ...string) []*runningServer {
	t.Helper()
	nats := testkit.StartNATS(t)
	var nodes []*runningServer
	for _, name := range names {
		nodes = append(nodes, startBinary(t, "", "--cluster", nats.ClientURL(), "--node", name))
	}
	return nodes
}

// connectOn connects an MQTT 5 client (paho.golang) to the node at addr.
func connectOn(t *testing.T, addr, id string, o v5opts) (*paho.Client, *received5) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o.conn = nc
	return connect5(t, nil, id, o)
}

// connectPresent connects like connectOn and returns CONNACK's session
// present flag.
func connectPresent(t *testing.T, addr, id string, o v5opts) (*paho.Client, *received5, bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	got := &received5{}
	c := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: nc, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { got.add(pr.Packet); return true, nil }}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: o.clean, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}})
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("connect %s: %v %+v", id, err, ca)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c, got, ca.SessionPresent
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// TestClusterMQTTSessionSurvivesNodeKill: a persistent session created on
// node A (QoS 1 subscription, then disconnect) gets the messages published
// on B while it was away, after A was killed with SIGKILL, by resuming
// with clean start false on C: session present, every message once, in
// order. A session still connected to A, holding a QoS 1 message it never
// acknowledged, gets that message again on C.
func TestClusterMQTTSessionSurvivesNodeKill(t *testing.T) {
	t.Parallel()
	// Three NATS processes and three nodes, streams and the session
	// bucket with 3 replicas.
	pc := startProcCluster(t, 3, "")
	a, b, c := pc.nodes[0], pc.nodes[1], pc.nodes[2]
	client, _ := connectOn(t, a.mqtt, "roamer", v5opts{expiry: 300})
	subscribe5(t, client, paho.SubscribeOptions{Topic: "away/#", QoS: 1})
	if err := client.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	want := numbered(20)
	for _, p := range want {
		if status, _ := publishOn(t, b.url, "away/"+p, p); status != http.StatusOK {
			t.Fatalf("publish on B: %d", status)
		}
	}
	holder, held := connectOn(t, a.mqtt, "holder", v5opts{expiry: 300, manualAck: true})
	subscribe5(t, holder, paho.SubscribeOptions{Topic: "held/#", QoS: 1})
	publishOn(t, b.url, "held/1", "unacknowledged")
	testkit.Eventually(t, 10*time.Second, "the message held on A", func() bool { return len(held.list()) > 0 })
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()

	_, again, _ := connectPresent(t, c.mqtt, "holder", v5opts{expiry: 300})
	testkit.Eventually(t, 10*time.Second, "the unacknowledged message again on C", func() bool {
		return slices.Equal(again.payloads(), []string{"unacknowledged"})
	})
	_, got, present := connectPresent(t, c.mqtt, "roamer", v5opts{expiry: 300})
	if !present {
		t.Fatal("resumed on C without the session (session present 0)")
	}
	testkit.Eventually(t, 10*time.Second, "the queued messages on C", func() bool { return len(got.list()) >= len(want) })
	time.Sleep(200 * time.Millisecond) // a duplicate would come right behind
	if p := got.payloads(); !slices.Equal(p, want) {
		t.Fatalf("resumed on C got %q, want %q", p, want)
	}
}

// TestClusterMQTTTakeoverAcrossNodes: a CONNECT with the client id of a
// connection on node A, made on node B, disconnects A's connection with
// 0x8E and resumes its session on B (subscription included); a 3.1.1
// connection (paho.mqtt.golang) taken over from B on A is closed.
func TestClusterMQTTTakeoverAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	reason := make(chan byte, 1)
	first, _ := connectOn(t, a.mqtt, "same-id", v5opts{expiry: 60,
		onDisconnect: func(d *paho.Disconnect) { reason <- d.ReasonCode }})
	subscribe5(t, first, paho.SubscribeOptions{Topic: "taken/#", QoS: 1})

	_, got, present := connectPresent(t, b.mqtt, "same-id", v5opts{expiry: 60})
	select {
	case r := <-reason:
		if r != 0x8E {
			t.Fatalf("connection on A got reason %#x, want 0x8E", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection on A was not disconnected")
	}
	if !present {
		t.Fatal("session not present on B after the takeover")
	}
	publishOn(t, a.url, "taken/1", "after")
	testkit.Eventually(t, 10*time.Second, "the taken-over subscription on B", func() bool { return len(got.list()) > 0 })

	lost := make(chan error, 1)
	connect311 := func(addr string, onLost func(paho3.Client, error)) paho3.Client {
		c := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("old-device").
			SetCleanSession(false).SetAutoReconnect(false).SetConnectionLostHandler(onLost))
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(0) })
		return c
	}
	connect311(b.mqtt, func(_ paho3.Client, err error) { lost <- err })
	connect311(a.mqtt, nil)
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("3.1.1 connection on B was not closed by the takeover on A")
	}
}

// TestClusterMQTTSharedSubscriptionOnce: one member of $share/g/jobs/# on
// node A and one on node B get each of N QoS 1 messages exactly once
// between them, and both get some. Then A's member (a persistent session)
// disconnects: the next N all go to B's member, none waits on A.
func TestClusterMQTTSharedSubscriptionOnce(t *testing.T) {
	t.Parallel()
	var nodes []*runningServer // on three NATS processes
	for _, n := range startProcCluster(t, 2, "").nodes {
		nodes = append(nodes, n.runningServer)
	}
	var clients []*paho.Client
	var got []*received5
	for i, n := range nodes {
		c, r := connectOn(t, n.mqtt, fmt.Sprint("member-", i), v5opts{expiry: 60})
		subscribe5(t, c, paho.SubscribeOptions{Topic: "$share/g/jobs/#", QoS: 1})
		clients, got = append(clients, c), append(got, r)
	}
	want := publishJobs(t, nodes[0].url, 0, 60)
	all := func() []string { return append(got[0].payloads(), got[1].payloads()...) }
	expectOnce(t, all, want)
	if len(got[0].list()) == 0 || len(got[1].list()) == 0 {
		t.Errorf("one member got everything: A %d, B %d", len(got[0].list()), len(got[1].list()))
	}

	if err := clients[0].Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // A's group lets go of its share within 50 ms
	more := publishJobs(t, nodes[0].url, 60, 30)
	expectOnce(t, all, append(want, more...))
}

// publishJobs publishes jobs/<i> for i in [from, from+n) over HTTP.
func publishJobs(t *testing.T, base string, from, n int) []string {
	t.Helper()
	var out []string
	for i := from; i < from+n; i++ {
		p := strconv.Itoa(i)
		if status, _ := publishOn(t, base, "jobs/"+p, p); status != http.StatusOK {
			t.Fatalf("publish: %d", status)
		}
		out = append(out, p)
	}
	return out
}

// expectOnce waits for every one of want in delivered() and checks that
// none came twice.
func expectOnce(t *testing.T, delivered func() []string, want []string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "every job delivered", func() bool { return len(delivered()) >= len(want) })
	time.Sleep(300 * time.Millisecond) // a second copy would come right behind
	d := delivered()
	slices.SortFunc(d, func(x, y string) int { a, _ := strconv.Atoi(x); b, _ := strconv.Atoi(y); return a - b })
	if !slices.Equal(d, want) {
		t.Fatalf("delivered between the members: %q, want each of %d once", d, len(want))
	}
}

// TestClusterMQTTWillsOnce: a will delayed 2 s, of a connection dropped on
// node A and resumed on node B within the delay, never fires; an
// undelayed will of a connection dropped on A fires once, seen once by
// watchers on both nodes.
func TestClusterMQTTWillsOnce(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	var watchers []*received5
	for i, n := range nodes {
		c, r := connectOn(t, n.mqtt, fmt.Sprint("watcher-", i), v5opts{clean: true})
		subscribe5(t, c, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
		watchers = append(watchers, r)
	}
	dropWithWill(t, a.mqtt, "delayed", 2)
	connectOn(t, b.mqtt, "delayed", v5opts{expiry: 60})
	dropWithWill(t, a.mqtt, "undelayed", 0)
	for _, w := range watchers {
		testkit.Eventually(t, 10*time.Second, "the undelayed will", func() bool { return len(payloadsOn(w, "will/undelayed")) > 0 })
	}
	time.Sleep(2500 * time.Millisecond) // past the delayed will's delay
	for i, w := range watchers {
		if d := payloadsOn(w, "will/delayed"); len(d) > 0 {
			t.Errorf("watcher on node %d got the cancelled delayed will %q", i, d)
		}
		if u := payloadsOn(w, "will/undelayed"); len(u) != 1 {
			t.Errorf("watcher on node %d got the undelayed will %d times, want once", i, len(u))
		}
	}
}

// dropWithWill connects id on addr with a will on will/<id> delayed by
// delay seconds (session expiry 60 s), then drops the TCP connection
// without DISCONNECT.
func dropWithWill(t *testing.T, addr, id string, delay uint32) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: nc})
	expiry := uint32(60)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties:     &paho.ConnectProperties{SessionExpiryInterval: &expiry},
		WillMessage:    &paho.WillMessage{Topic: "will/" + id, Payload: []byte("gone"), QoS: 1},
		WillProperties: &paho.WillProperties{WillDelayInterval: &delay}})
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("connect %s: %v %+v", id, err, ca)
	}
	nc.Close()
}
