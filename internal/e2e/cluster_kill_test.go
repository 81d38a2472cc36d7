package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/testkit"
)

// killDurable is the durable stream of the kill tests.
const killDurable = "durable:\n  streams:\n    - filter: kill/#\n"

// sent records what one publisher got acknowledged and what it sent again
// after moving to another node (unacknowledged when its node died).
type sent struct {
	mu     sync.Mutex
	acked  map[int]bool
	resent map[int]bool
}

func newSent() *sent { return &sent{acked: map[int]bool{}, resent: map[int]bool{}} }

func (s *sent) ack(i int) {
	s.mu.Lock()
	s.acked[i] = true
	s.mu.Unlock()
}

func (s *sent) resend(i int) {
	s.mu.Lock()
	s.resent[i] = true
	s.mu.Unlock()
}

func (s *sent) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// mover is a publisher that sends numbered messages to one node until it
// fails, then to the next node, sending again the one that failed (as a
// user would: it was not acknowledged).
type mover struct {
	topic string
	nodes []*clusterNode // the first is where it starts
	log   *sent
}

// runHTTP publishes over HTTP POST until stop is closed.
func (m *mover) runHTTP(t *testing.T, stop <-chan struct{}) {
	client := &http.Client{Timeout: 10 * time.Second}
	node := 0
	for i := 0; ; {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := client.Post(m.nodes[node].url+"/v1/publish/"+m.topic, "text/plain", strings.NewReader(strconv.Itoa(i)))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			m.log.ack(i)
			i++
			continue
		}
		if err == nil && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: publish %d: %s", m.topic, i, resp.Status)
			return
		}
		m.log.resend(i) // the same number again: on the next node if this one is gone
		if err != nil {
			node = min(node+1, len(m.nodes)-1)
		}
	}
}

// runText publishes over the TCP text protocol until stop is closed.
func (m *mover) runText(t *testing.T, stop <-chan struct{}) {
	node := 0
	pub := dialText(t, m.nodes[node].tcp)
	for i := 0; ; {
		select {
		case <-stop:
			return
		default:
		}
		err := pub.publish(m.topic, []byte(strconv.Itoa(i)))
		if err == nil {
			m.log.ack(i)
			i++
			continue
		}
		m.log.resend(i)
		if !strings.Contains(err.Error(), "unavailable") {
			node = min(node+1, len(m.nodes)-1)
			pub = dialText(t, m.nodes[node].tcp)
		}
	}
}

// runMQTT publishes total QoS 1 messages with the Paho 3.1.1 client, up to
// window unacknowledged at a time; when the connection dies, every
// publish not acknowledged is sent again, in order, on the next node (the
// last one again: MQTT 3.1.1 closes the connection of a publish refused as
// unavailable). halfway is closed once half of them are acknowledged.
func (m *mover) runMQTT(t *testing.T, total, window int, halfway chan<- struct{}) {
	type inflight struct {
		i   int
		tok paho3.Token
	}
	var pending []inflight
	var todo []int // numbers to send again, first
	next, node := 0, 0
	connect := func() (paho3.Client, error) {
		// A node cut off from NATS for a moment refuses CONNECT: try again.
		for deadline := time.Now().Add(15 * time.Second); ; {
			c := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + m.nodes[node].mqtt).
				SetClientID(fmt.Sprintf("%s-pub-%d", m.topic, node)).SetAutoReconnect(false).SetConnectRetry(false))
			tok := c.Connect()
			tok.Wait()
			if tok.Error() == nil || time.Now().After(deadline) {
				return c, tok.Error()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c, err := connect()
	if err != nil {
		t.Errorf("MQTT: %v", err)
		return
	}
	defer func() { c.Disconnect(0) }()
	half, moves := false, 0
	defer func() { t.Logf("%s: connected again %d times", m.topic, moves) }()
	for next < total || len(todo) > 0 || len(pending) > 0 {
		if len(pending) < window && (len(todo) > 0 || next < total) {
			var i int
			if len(todo) > 0 {
				i, todo = todo[0], todo[1:]
				m.log.resend(i)
			} else {
				i, next = next, next+1
			}
			pending = append(pending, inflight{i, c.Publish(m.topic, 1, false, strconv.Itoa(i))})
			continue
		}
		oldest := pending[0]
		if !oldest.tok.WaitTimeout(15*time.Second) || oldest.tok.Error() != nil {
			// The node is gone: what was not acknowledged goes again, on the next node.
			for _, p := range pending {
				if p.tok.WaitTimeout(time.Second) && p.tok.Error() == nil {
					m.log.ack(p.i)
				} else {
					todo = append(todo, p.i)
				}
			}
			pending = nil
			c.Disconnect(0)
			if moves++; moves > maxMoves {
				t.Errorf("MQTT: connection lost %d times, the last: %v", moves, oldest.tok.Error())
				return
			}
			node = min(node+1, len(m.nodes)-1)
			if c, err = connect(); err != nil {
				t.Errorf("MQTT on the next node: %v", err)
				return
			}
			continue
		}
		m.log.ack(oldest.i)
		pending = pending[1:]
		if !half && m.log.count() >= total/2 {
			half = true
			close(halfway)
		}
	}
}

// publishRun is an MQTT, an HTTP and a TCP text publisher at work.
type publishRun struct {
	mq, web, text *mover
	mqttDone      chan struct{} // closed when the MQTT publisher is done
	halt          chan struct{}
	wg            sync.WaitGroup
}

// startPublishers starts the three publishers of the kill/ topics on nodes
// (the first, then the next after a failure) and returns once half of the
// total MQTT publishes are acknowledged; HTTP and TCP go on until stop.
func startPublishers(t *testing.T, ctx context.Context, nodes []*clusterNode, total, window int) *publishRun {
	t.Helper()
	r := &publishRun{mq: &mover{"kill/mqtt", nodes, newSent()}, web: &mover{"kill/http", nodes, newSent()},
		text: &mover{"kill/tcp", nodes, newSent()}, mqttDone: make(chan struct{}), halt: make(chan struct{})}
	halfway := make(chan struct{})
	go func() { defer close(r.mqttDone); r.mq.runMQTT(t, total, window, halfway) }()
	r.wg.Go(func() { r.web.runHTTP(t, r.halt) })
	r.wg.Go(func() { r.text.runText(t, r.halt) })
	select {
	case <-halfway:
	case <-r.mqttDone:
		t.Fatal("MQTT publisher ended before half of its publishes")
	case <-ctx.Done():
		t.Fatal("half of the MQTT publishes never acknowledged")
	}
	return r
}

// stop ends the HTTP and TCP publishers and waits for them.
func (r *publishRun) stop() {
	close(r.halt)
	r.wg.Wait()
}

// maxMoves bounds how often runMQTT connects again.
const maxMoves = 100

// sseEvent is one event as an SSE subscriber saw it.
type sseEvent struct{ id, topic, data string }

// sseLog reads an SSE stream into a list until it ends.
type sseLog struct {
	mu     sync.Mutex
	events []sseEvent
	done   chan struct{}
	lastID string
}

func followSSE(t *testing.T, ctx context.Context, base, lastEventID string) *sseLog {
	t.Helper()
	return followSSEReader(sseFrom(t, ctx, base+"/v1/subscribe?topic=kill/%23", lastEventID))
}

// followSSEFrom follows kill/# from a starting point (a query: from=1).
func followSSEFrom(t *testing.T, ctx context.Context, base, start string) *sseLog {
	t.Helper()
	return followSSEReader(sseFrom(t, ctx, base+"/v1/subscribe?topic=kill/%23&"+start, ""))
}

func followSSEReader(r *testkit.SSEReader) *sseLog {
	l := &sseLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.events = append(l.events, sseEvent{ev.ID, ev.Topic, ev.Data})
			l.lastID = ev.ID
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *sseLog) snapshot() []sseEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sseEvent(nil), l.events...)
}

// has reports whether an event with data on topic arrived.
func (l *sseLog) has(topic, data string) bool {
	for _, e := range l.snapshot() {
		if e.topic == topic && e.data == data {
			return true
		}
	}
	return false
}

// from is the events from the one with data on topic on.
func from(events []sseEvent, topic, data string) []sseEvent {
	for i, e := range events {
		if e.topic == topic && e.data == data {
			return events[i:]
		}
	}
	return nil
}

// TestClusterNodeKilledMidPublish: on 3 NATS and 3 streamhub processes
// (replicas 3), node a is killed with SIGKILL in the middle of 10,000 QoS 1
// MQTT publishes (Paho) and of HTTP and TCP text publishes to a durable
// topic. Each publisher moves to node b and sends again what a had not
// acknowledged; an SSE subscriber on a resumes on b with Last-Event-ID, a
// long poll loop with its cursor and a TCP text subscriber with SUB FROM
// its last message's cursor. No
// acknowledged message is missing; the resumed subscribers get exactly
// what a subscriber on c that never moved got (no duplicates, no holes);
// publisher re-sends may store a message twice (at least once), counted.
func TestClusterNodeKilledMidPublish(t *testing.T) {
	t.Parallel()
	pc := startProcCluster(t, 3, killDurable)
	a, b, c := pc.nodes[0], pc.nodes[1], pc.nodes[2]
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()

	reference := followSSE(t, ctx, c.url, "")
	victim := followSSE(t, ctx, a.url, "")
	polled := &collector{}
	pollMoving(ctx, t, []*clusterNode{a, b}, "kill/#", polled)
	tcpBefore := &collector{}
	textSubscriber(ctx, t, a.tcp, "kill/#", "", tcpBefore)
	testkit.Eventually(t, 30*time.Second, "every subscriber receiving", func() bool {
		httpPublish(t, a.url, "kill/probe", []byte("probe"), "")
		got, _ := tcpBefore.snapshot()
		polls, _ := polled.snapshot()
		return reference.has("kill/probe", "probe") && victim.has("kill/probe", "probe") && len(got) > 0 && len(polls) > 0
	})
	httpPublish(t, a.url, "kill/mark", []byte("start"), "")

	const total = 10_000
	run := startPublishers(t, ctx, []*clusterNode{a, b}, total, 64)
	mq, web, text := run.mq, run.web, run.text
	a.kill()
	<-victim.done
	tcpSeen, _ := tcpBefore.snapshot()
	began := time.Now()

	// The subscribers of a resume on b: SSE with its Last-Event-ID; TCP
	// FROM the cursor of its last MSG frame (it asked for CURSORS).
	resumed := followSSE(t, ctx, b.url, victim.lastID)
	tcpCursor := cursorAfter(t, reference, tcpSeen)
	tcpAfter := &collector{}
	textSubscriber(ctx, t, b.tcp, "kill/#", tcpCursor, tcpAfter)

	<-run.mqttDone
	run.stop()
	httpPublish(t, b.url, "kill/mark", []byte("end"), "")
	testkit.Eventually(t, 60*time.Second, "the end mark everywhere", func() bool {
		got, _ := tcpAfter.snapshot()
		polls, _ := polled.snapshot()
		return reference.has("kill/mark", "end") && resumed.has("kill/mark", "end") &&
			len(got) > 0 && string(got[len(got)-1].payload) == "end" &&
			len(polls) > 0 && string(polls[len(polls)-1].payload) == "end"
	})
	t.Logf("publishers done and every subscriber at the end mark %v after the kill", time.Since(began).Round(time.Millisecond))

	ref := from(reference.snapshot(), "kill/mark", "start")
	checkPublisher(t, "mqtt", ref, mq, total)
	checkPublisher(t, "http", ref, web, 0)
	checkPublisher(t, "tcp", ref, text, 0)

	// SSE: before the kill on a, then resumed on b, is the reference.
	sse := append(from(victim.snapshot(), "kill/mark", "start"), resumed.snapshot()...)
	sameEvents(t, "SSE resumed with Last-Event-ID", sse, ref)
	// TCP likewise, by topic and payload.
	tcpResumed, err := tcpAfter.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tcpAll := from(asEvents(append(tcpSeen, tcpResumed...)), "kill/mark", "start")
	sameEvents(t, "TCP resumed with SUB FROM", tcpAll, ref)
	polls, err := polled.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref {
		ref[i].id = "" // a long poll answer's cursor is its last message's
	}
	sameEvents(t, "long poll moved with its cursor", from(asEvents(polls), "kill/mark", "start"), ref)
}

// pollMoving long-polls filter on the first node, and when a poll fails
// goes on with the same cursor on the next one, until ctx ends.
func pollMoving(ctx context.Context, t *testing.T, nodes []*clusterNode, filter string, c *collector) {
	t.Helper()
	first, err := poll(ctx, nodes[0].url, filter, "", "0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		cursor, node := first.Cursor, 0
		for ctx.Err() == nil {
			a, err := poll(ctx, nodes[node].url, filter, cursor, "5s")
			if err != nil {
				node = min(node+1, len(nodes)-1)
				continue
			}
			if !c.addPolled(a) {
				return
			}
			cursor = a.Cursor
		}
	}()
}

// cursorAfter is the cursor of the last message the TCP subscriber saw,
// after checking that what it saw from the start mark on is the
// reference's beginning from there, cursors included.
func cursorAfter(t *testing.T, reference *sseLog, seen []received) string {
	t.Helper()
	mine := from(asEvents(seen), "kill/mark", "start")
	if len(mine) == 0 {
		t.Fatal("the TCP subscriber never got the start mark")
	}
	var ref []sseEvent
	testkit.Eventually(t, 30*time.Second, "the reference to hold what the TCP subscriber saw", func() bool {
		ref = from(reference.snapshot(), "kill/mark", "start")
		return len(ref) >= len(mine)
	})
	for i, m := range mine {
		if ref[i] != m {
			t.Fatalf("TCP subscriber's message %d: %s %q at %s, reference %s %q at %s", i, m.topic, m.data, m.id, ref[i].topic, ref[i].data, ref[i].id)
		}
	}
	return mine[len(mine)-1].id
}

// asEvents is what a TCP subscriber received as events, with the
// cursors of MSG frames as ids.
func asEvents(got []received) []sseEvent {
	out := make([]sseEvent, len(got))
	for i, m := range got {
		out[i] = sseEvent{topic: m.topic, data: string(m.payload), id: m.cursor}
	}
	return out
}

// sameEvents fails unless got is want exactly.
func sameEvents(t *testing.T, what string, got, want []sseEvent) {
	t.Helper()
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %+v, the reference's %+v", what, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, the reference %d", what, len(got), len(want))
	}
	t.Logf("%s: %d events, the same as the reference's", what, len(got))
}

// checkPublisher: every acknowledged message of p is in ref; only those
// sent again may be there twice (at least once); total, when set, is how
// many p had to publish.
func checkPublisher(t *testing.T, name string, ref []sseEvent, p *mover, total int) {
	t.Helper()
	stored := map[int]int{}
	for _, e := range ref {
		if e.topic == p.topic {
			n, _ := strconv.Atoi(e.data)
			stored[n]++
		}
	}
	if total > 0 && len(p.log.acked) != total {
		t.Errorf("%s: %d of %d acknowledged", name, len(p.log.acked), total)
	}
	missing, twice := 0, 0
	for i := range p.log.acked {
		switch {
		case stored[i] == 0:
			missing++
		case stored[i] > 1 && !p.log.resent[i]:
			t.Errorf("%s: %d stored %d times, never sent again", name, i, stored[i])
		case stored[i] > 1:
			twice++
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d acknowledged messages missing", name, missing)
	}
	t.Logf("%s: %d acknowledged, %d sent again after the move, %d of those stored twice (at least once), %d missing",
		name, len(p.log.acked), len(p.log.resent), twice, missing)
}

// streamLeader is the name of the NATS server leading the message stream.
func streamLeader(t *testing.T, pc *procCluster) string {
	t.Helper()
	nc, err := nats.Connect(pc.nats[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	testkit.Eventually(t, 10*time.Second, "a leader of the stream STREAMHUB", func() bool {
		st, err := js.Stream(t.Context(), "STREAMHUB")
		if err != nil {
			return false
		}
		info, err := st.Info(t.Context())
		if err != nil || info.Cluster == nil {
			return false
		}
		leader = info.Cluster.Leader
		return leader != ""
	})
	return leader
}

// TestClusterNATSServerKilledMidPublish: on 3 NATS processes with replicas
// 3 and 2 streamhub nodes, the NATS server leading the message stream is
// killed with SIGKILL while node a takes MQTT, HTTP and TCP publishes of a
// durable topic. Publishing goes on (a publish refused as unavailable, or
// an MQTT connection closed, is sent again, as a user would); a live
// subscriber on b and a replay from the start on b hold every acknowledged
// message.
func TestClusterNATSServerKilledMidPublish(t *testing.T) {
	t.Parallel()
	pc := startProcCluster(t, 2, killDurable)
	a, b := pc.nodes[0], pc.nodes[1]
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	live := followSSE(t, ctx, b.url, "")
	testkit.Eventually(t, 30*time.Second, "the subscriber on b receiving", func() bool {
		httpPublish(t, a.url, "kill/probe", []byte("probe"), "")
		return live.has("kill/probe", "probe")
	})
	httpPublish(t, a.url, "kill/mark", []byte("start"), "")

	const total = 3000
	run := startPublishers(t, ctx, []*clusterNode{a}, total, 16)
	mq, web, text := run.mq, run.web, run.text
	leader := streamLeader(t, pc)
	before := web.log.count() + text.log.count()
	for _, p := range pc.nats {
		if p.Name == leader {
			p.Kill()
		}
	}
	<-run.mqttDone
	testkit.Eventually(t, 30*time.Second, "HTTP and TCP publishes acknowledged after the kill", func() bool {
		return web.log.count() > 0 && text.log.count() > 0 && web.log.count()+text.log.count() > before+100
	})
	run.stop()
	httpPublish(t, a.url, "kill/mark", []byte("end"), "")
	replay := followSSEFrom(t, ctx, b.url, "from=1")
	testkit.Eventually(t, 60*time.Second, "the end mark on b", func() bool {
		return live.has("kill/mark", "end") && replay.has("kill/mark", "end")
	})
	t.Logf("NATS server %s (the stream's leader) killed", leader)
	for _, l := range []struct {
		name string
		log  *sseLog
	}{{"live on b", live}, {"replay on b", replay}} {
		t.Run(l.name, func(t *testing.T) {
			ref := from(l.log.snapshot(), "kill/mark", "start")
			checkPublisher(t, "mqtt", ref, mq, total)
			checkPublisher(t, "http", ref, web, 0)
			checkPublisher(t, "tcp", ref, text, 0)
		})
	}
}
