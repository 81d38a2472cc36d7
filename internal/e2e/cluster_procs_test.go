package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/testkit"
)

// procCluster is a 3-server NATS JetStream cluster and streamhub nodes on
// it, every one a separate process on loopback, all stopped at test end.
type procCluster struct {
	nats  []*testkit.NATSProcess
	nodes []*clusterNode
}

// clusterNode is one streamhub process of a procCluster.
type clusterNode struct {
	*runningServer
	name string
	tcp  string // text protocol address
}

// server is the node as the e2e subscriber and publisher helpers take it
// (they use only its URLs).
func (n *clusterNode) server() *testkit.Server {
	return &testkit.Server{URL: n.url, WSURL: "ws://" + strings.TrimPrefix(n.url, "http://")}
}

// kill ends the node with SIGKILL, as a machine dies.
func (n *clusterNode) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.cmd.Wait()
}

// startProcCluster runs 3 nats-server processes and nodes streamhub
// processes named a, b, c… on them, every stream with 3 replicas; yaml is
// added to each node's config file (durable streams, retention).
func startProcCluster(t *testing.T, nodes int, yaml string) *procCluster {
	t.Helper()
	pc := &procCluster{nats: testkit.StartNATSProcesses(t, 3)}
	var urls []string
	for _, p := range pc.nats {
		urls = append(urls, p.URL)
	}
	cfg := filepath.Join(t.TempDir(), "streamhub.yaml")
	if err := os.WriteFile(cfg, []byte("cluster:\n  replicas: 3\n"+yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		name := string(rune('a' + i))
		tcp := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		rs := startBinary(t, "", "--config", cfg, "--cluster", strings.Join(urls, ","), "--node", name, "--tcp", tcp)
		pc.nodes = append(pc.nodes, &clusterNode{runningServer: rs, name: name, tcp: tcp})
	}
	return pc
}

// mqttSubscriber receives filter at QoS 1 with the Paho 3.1.1 client.
func mqttSubscriber(t *testing.T, n *clusterNode, id, filter string, c *collector) {
	t.Helper()
	cl := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + n.mqtt).SetClientID(id).SetOrderMatters(true))
	if tok := cl.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	if tok := cl.Subscribe(filter, 1, func(_ paho3.Client, m paho3.Message) { c.add(m.Topic(), m.Payload()) }); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

// textSubscriber subscribes over the TCP text protocol (after a cursor,
// when from is set) and collects each MSG; the connection closes with ctx.
func textSubscriber(ctx context.Context, t *testing.T, addr, filter, from string, c *collector) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	t.Cleanup(func() { conn.Close() })
	cmd := "CURSORS\nSUB " + filter
	if from != "" {
		cmd += " FROM " + from
	}
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		t.Fatal(err)
	}
	go readTextMessages(bufio.NewReader(conn), c)
}

// readTextMessages collects the MSG frames of a text protocol connection,
// with their cursors after CURSORS.
func readTextMessages(r *bufio.Reader, c *collector) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(line)
		if len(fields) < 3 || len(fields) > 4 || fields[0] != "MSG" {
			continue // +OK, PONG
		}
		var cursor string
		if len(fields) == 4 {
			cursor = fields[3]
		}
		n, err := strconv.Atoi(fields[2])
		if err != nil {
			c.fail(fmt.Errorf("MSG line %q", line))
			return
		}
		body := make([]byte, n+1) // payload and its LF
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		c.addAt(fields[1], body[:n], cursor)
	}
}

// textPublisher publishes over the TCP text protocol, waiting for each
// +OK; it returns the error line or connection error of a refused publish.
type textPublisher struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialText(t *testing.T, addr string) *textPublisher {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &textPublisher{conn: conn, r: bufio.NewReader(conn)}
}

func (p *textPublisher) publish(topic string, payload []byte) error {
	_ = p.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(p.conn, "PUB %s %d\n%s\n", topic, len(payload), payload); err != nil {
		return err
	}
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(line, "+OK"):
			return nil
		case strings.HasPrefix(line, "-ERR"):
			return fmt.Errorf("%s", strings.TrimSpace(line))
		}
	}
}

// TestClusterProcessMatrix: on 3 NATS processes and 3 streamhub processes
// (replicas 3), two messages published on node a over each publishing
// protocol (MQTT, HTTP POST, WebSocket, TCP text) reach every subscriber
// on nodes b and c over each subscribing protocol (MQTT, SSE, NDJSON, long
// poll, WebSocket, TCP text): each once, in order per publisher.
func TestClusterProcessMatrix(t *testing.T) {
	t.Parallel()
	pc := startProcCluster(t, 3, "")
	a := pc.nodes[0]
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const filter = "xm/#"
	type sub struct {
		name string
		c    *collector
	}
	var subs []sub
	for _, n := range pc.nodes[1:] {
		for _, s := range []subscriber{sseSubscriber(), ndjsonSubscriber(), longPollSubscriber(), wsJSONSubscriber()} {
			c := &collector{}
			s.start(ctx, t, n.server(), filter, c)
			subs = append(subs, sub{n.name + "/" + s.name, c})
		}
		mq, tc := &collector{}, &collector{}
		mqttSubscriber(t, n, "xm-sub-"+n.name, filter, mq)
		textSubscriber(ctx, t, n.tcp, filter, "", tc)
		subs = append(subs, sub{n.name + "/mqtt", mq}, sub{n.name + "/tcp", tc})
	}
	// Probes until every subscriber has one: then each is in place on its
	// node (no process exposes its hub to wait on).
	probes := 0
	testkit.Eventually(t, 30*time.Second, "every subscriber receiving", func() bool {
		probes++
		httpPublish(t, a.url, "xm/probe", []byte("probe"), "")
		for _, s := range subs {
			if got, _ := s.c.snapshot(); len(got) == 0 {
				return false
			}
		}
		return true
	})

	mqttPub := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + a.mqtt).SetClientID("xm-pub"))
	if tok := mqttPub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer mqttPub.Disconnect(0)
	text := dialText(t, a.tcp)
	publishers := map[string]func([]byte){
		"mqtt": func(p []byte) {
			if tok := mqttPub.Publish("xm/mqtt", 1, false, p); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("MQTT publish not acknowledged: %v", tok.Error())
			}
		},
		"http": postPublisher().open(t, a.server(), "xm/http"),
		"ws":   wsJSONPublisher().open(t, a.server(), "xm/ws"),
		"tcp": func(p []byte) {
			if err := text.publish("xm/tcp", p); err != nil {
				t.Fatal(err)
			}
		},
	}
	for _, i := range []int{1, 2} {
		for name, send := range publishers {
			send([]byte(fmt.Sprintf("%s-%d", name, i)))
		}
	}

	want := 2 * len(publishers)
	for _, s := range subs {
		testkit.Eventually(t, 30*time.Second, s.name+" to receive every message", func() bool {
			got, err := s.c.snapshot()
			return err != nil || len(withoutProbes(got)) >= want
		})
	}
	// Late duplicates would come within the NATS round trip: one more probe
	// reaching everyone makes sure none is still on its way.
	httpPublish(t, a.url, "xm/probe", []byte("last"), "")
	for _, s := range subs {
		testkit.Eventually(t, 30*time.Second, s.name+" to receive the last probe", func() bool {
			got, _ := s.c.snapshot()
			return len(got) > 0 && string(got[len(got)-1].payload) == "last"
		})
		got, err := s.c.snapshot()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkOncePerPublisher(t, s.name, withoutProbes(got), publishers)
	}
	t.Logf("%d subscribers on 2 nodes, %d publishers on a, %d probes", len(subs), len(publishers), probes)
}

func withoutProbes(got []received) []received {
	var out []received
	for _, m := range got {
		if m.topic != "xm/probe" {
			out = append(out, m)
		}
	}
	return out
}

// checkOncePerPublisher: got holds name-1 then name-2 of every publisher,
// each once, on the publisher's topic.
func checkOncePerPublisher(t *testing.T, sub string, got []received, publishers map[string]func([]byte)) {
	t.Helper()
	next := map[string]int{}
	for _, m := range got {
		name, _, _ := strings.Cut(string(m.payload), "-")
		next[name]++
		if want := fmt.Sprintf("%s-%d", name, next[name]); string(m.payload) != want || m.topic != "xm/"+name {
			t.Errorf("%s: got %s on %s, want %s on xm/%s", sub, m.payload, m.topic, want, name)
		}
	}
	for name := range publishers {
		if next[name] != 2 {
			t.Errorf("%s: %d messages from %s, want 2", sub, next[name], name)
		}
	}
}

// TestClusterRetentionAnswersAGap: durable.streams retention bounds the
// JetStream stream (the strictest of the streams: 3 messages); a cursor
// older than what the stream holds, resumed on a node that joined later,
// answers a gap (SSE gap event, TCP "+OK gap") and replays what is held.
func TestClusterRetentionAnswersAGap(t *testing.T) {
	t.Parallel()
	nats := testkit.StartNATS(t)
	cfg := filepath.Join(t.TempDir(), "streamhub.yaml")
	streams := "durable:\n  streams:\n    - filter: ret/#\n      messages: 3\n    - filter: other/#\n      messages: 1000\n"
	if err := os.WriteFile(cfg, []byte(streams), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startBinary(t, "", "--config", cfg, "--cluster", nats.ClientURL(), "--node", "a")
	var first string
	for i := 1; i <= 6; i++ {
		status, cursor := publishOn(t, a.url, "ret/x", strconv.Itoa(i))
		if status != 200 {
			t.Fatalf("publish %d: %d", i, status)
		}
		if i == 1 {
			first = cursor
		}
	}
	tcp := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	b := startBinary(t, "", "--config", cfg, "--cluster", nats.ClientURL(), "--node", "b", "--tcp", tcp)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	sse := sseFrom(t, ctx, b.url+"/v1/subscribe?topic=ret/%23", first)
	if ev, err := sse.Next(); err != nil || ev.Event != "gap" {
		t.Fatalf("SSE resume from before what the stream holds: %+v %v, want a gap event", ev, err)
	}
	expectEvents(t, sse, "4", "5", "6")

	conn, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "SUB ret/# FROM %s\n", first)
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK gap ") {
		t.Fatalf("TCP resume from before what the stream holds: %q %v, want +OK gap", line, err)
	}
	got := &collector{}
	go readTextMessages(r, got)
	testkit.Eventually(t, 10*time.Second, "the 3 messages held", func() bool { g, _ := got.snapshot(); return len(g) >= 3 })
	var payloads []string
	for _, m := range must(got.snapshot()) {
		payloads = append(payloads, string(m.payload))
	}
	if strings.Join(payloads, " ") != "4 5 6" {
		t.Fatalf("TCP replayed %q, want 4 5 6", payloads)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
