package conformance_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"streamhub/internal/cluster"
	"streamhub/internal/core/engine/local"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/store"
	"streamhub/internal/core/topic"
	"streamhub/internal/testkit/natstest"
	"streamhub/internal/testkit/poll"
)

// Every engine runs with the same small memory windows and the same
// durable stream, so that a resume can reach past the windows into what
// the engine stores.
const (
	windowMessages = 4           // each topic family's memory window
	retention      = 1000        // messages the durable stream keeps
	shortRetention = 20          // the same, for the behaviours about retention
	durableFilter  = "d/#"       // durable topics; n/... are not
	wait           = time.Minute // a bound for failing, never a pace
)

// caps is what an engine can do. A behaviour it legitimately cannot show
// is declared here and asserted as such (the other branch of the same
// behaviour), never skipped.
type caps struct {
	// stores: durable topics are kept past the memory windows, up to
	// retention; without it a resume older than the windows is a gap.
	stores bool
	// persists: a restart keeps the position space, durable history and
	// retained messages; without it a restarted engine is a new one.
	persists bool
	// longNames: every valid topic name and filter can be carried;
	// without it (NATS's protocol line) a long one is refused as
	// topic.ErrSubjectTooLong before it reaches the engine.
	longNames bool
}

// engine opens a node: a hub on one engine, assembled as the server does.
type engine struct {
	name string
	can  caps
	// open returns a hub and what stops it (the hub, then its store or
	// broker); called again on the same data, it is a restart.
	open func(t *testing.T, retention int) (h *hub.Hub, stop func())
	// known names the engine's known divergences from the table: the
	// behaviour then checks the weaker contract the engine does keep.
	known map[string]string
}

// node is a running engine, restartable on its data.
type node struct {
	*hub.Hub
	e         engine
	retention int
	stop      func()
}

func hubConfig() hub.Config {
	cfg := hub.Defaults()
	cfg.HistoryMessages = windowMessages
	return cfg
}

var quiet = slog.New(slog.DiscardHandler)

// memory is the local engine without a data directory: nothing durable.
func memory(*testing.T) engine {
	return engine{name: "memory", can: caps{longNames: true}, open: func(t *testing.T, _ int) (*hub.Hub, func()) {
		h, err := hub.New(hubConfig(), quiet, nil, local.New(nil, quiet))
		if err != nil {
			t.Fatal(err)
		}
		return h, h.Close
	}}
}

// pebble is the local engine on a data directory (the same one at each
// open) with d/# durable.
func pebble(t *testing.T) engine {
	var dir string
	return engine{name: "pebble", can: caps{stores: true, persists: true, longNames: true}, open: func(t *testing.T, retention int) (*hub.Hub, func()) {
		if dir == "" {
			dir = t.TempDir()
		}
		st, err := store.Open(store.Config{Dir: dir, Streams: []store.Stream{{Filter: durableFilter, Messages: retention}}}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		h, err := hub.New(hubConfig(), quiet, nil, local.New(st, quiet))
		if err != nil {
			t.Fatal(err)
		}
		return h, func() {
			h.Close()
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		}
	}}
}

// jetStream is the cluster broker on an in-process nats-server (the same
// one at each open) with d/# durable.
func jetStream(t *testing.T) engine {
	var url string
	return engine{name: "jetstream", can: caps{stores: true, persists: true}, known: map[string]string{
		burstPastRetention: "live delivery reads the stream, which retention may cut ahead of the node's consumer",
		readAfterAck:       "the memory windows and retained messages hear of a message from the consumer, possibly after its acknowledgement",
	}, open: func(t *testing.T, retention int) (*hub.Hub, func()) {
		if url == "" {
			url = natstest.Start(t, nil).ClientURL()
		}
		b, err := cluster.Open(context.Background(), cluster.Config{
			URLs: []string{url}, Node: "conformance", Durable: []string{durableFilter}, Limits: cluster.Limits{Messages: retention},
		}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		h, err := hub.New(hubConfig(), quiet, nil, b)
		if err != nil {
			b.Close()
			t.Fatal(err)
		}
		return h, func() { h.Close(); b.Close() }
	}}
}

// start opens e on fresh data.
func start(t *testing.T, newEngine func(*testing.T) engine, retention int) *node {
	e := newEngine(t)
	n := &node{e: e, retention: retention}
	n.Hub, n.stop = e.open(t, retention)
	t.Cleanup(func() { n.stop() })
	n.ready(t)
	return n
}

// restart stops the node and opens its engine again on the same data.
func (n *node) restart(t *testing.T) {
	n.stop()
	n.Hub, n.stop = n.e.open(t, n.retention)
	n.ready(t)
}

// ready waits until a message published now is delivered live: a
// JetStream node subscribes to NATS in the background.
func (n *node) ready(t *testing.T) {
	s := n.subscribe(t, []string{"p/ready"}, hub.StartFrom{})
	defer s.Close()
	poll.Eventually(t, wait, "live delivery", func() bool {
		n.publish(t, "p/ready", "ready", false)
		return len(s.Drain(nil)) > 0
	})
}

func (n *node) publish(t *testing.T, name, payload string, retain bool) *message.Message {
	t.Helper()
	m := &message.Message{Topic: name, Payload: []byte(payload), Retain: retain}
	c, err := n.Publish(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq == 0 { // a non-durable message on JetStream is positioned as it arrives
		m.Seq, m.Epoch = c.Seq, c.Epoch
	}
	return m
}

// fill publishes count messages on name, each once the node delivered
// the one before (a JetStream node hears its own from NATS, and must not
// fall behind a short retention), so that the memory windows hold the
// last of them.
func (n *node) fill(t *testing.T, name string, count int) []*message.Message {
	t.Helper()
	witness := n.subscribe(t, []string{name}, hub.StartFrom{})
	defer witness.Close()
	var out []*message.Message
	for i := range count {
		out = append(out, n.publish(t, name, fmt.Sprintf("%s#%d", name, i), false))
		for got := 0; got == 0; {
			got = len(receive(t, witness))
		}
	}
	return out
}

// settle publishes a marker on name and waits until witness, a live
// subscription to it, receives it: everything published on name before
// has been delivered.
func (n *node) settle(t *testing.T, witness *hub.Subscription, name string) {
	t.Helper()
	n.publish(t, name, "settle", false)
	for {
		ds := receive(t, witness)
		if slices.ContainsFunc(ds, func(d hub.Delivery) bool { return string(d.Msg.Payload) == "settle" }) {
			return
		}
	}
}

func (n *node) subscribe(t *testing.T, filters []string, from hub.StartFrom) *hub.Subscription {
	s, _ := n.subscribeAt(t, filters, from)
	return s
}

func (n *node) subscribeAt(t *testing.T, filters []string, from hub.StartFrom) (*hub.Subscription, hub.Start) {
	t.Helper()
	s := n.NewSubscription("conformance", hub.QueueLimits{})
	t.Cleanup(s.Close)
	start, err := s.Subscribe(filters, from)
	if err != nil {
		t.Fatal(err)
	}
	return s, start
}

// receive waits for deliveries on s.
func receive(t *testing.T, s *hub.Subscription) []hub.Delivery {
	t.Helper()
	select {
	case <-s.Ready():
		return s.Drain(nil)
	case <-s.Done():
		t.Fatalf("subscription ended: %v", s.Err())
	case <-time.After(wait):
		t.Fatal("nothing delivered")
	}
	return nil
}

// upTo returns what s delivers before a message with payload marker,
// which must be the last one delivered: published after the
// subscription was made, it proves nothing else was queued before it.
func upTo(t *testing.T, s *hub.Subscription, marker string) []hub.Delivery {
	t.Helper()
	var out []hub.Delivery
	for {
		ds := receive(t, s)
		for i, d := range ds {
			if string(d.Msg.Payload) == marker && !d.Retained {
				if i != len(ds)-1 {
					t.Fatalf("delivered after %q: %q", marker, payloads(ds[i+1:]))
				}
				return out
			}
			out = append(out, d)
		}
	}
}

// payloads names deliveries for comparison: "R:" marks a retained one.
func payloads(ds []hub.Delivery) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		p := string(d.Msg.Payload)
		if d.Retained {
			p = "R:" + p
		}
		out = append(out, p)
	}
	return out
}

func texts(ms []*message.Message) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, string(m.Payload))
	}
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// behaviours is the table every engine is held to.
// Each runs on a node of its own, with the durable stream's retention
// given (0: retention).
var behaviours = []struct {
	name      string
	run       func(t *testing.T, n *node)
	retention int
}{
	{"order", order, 0},
	{"durable per topic", durablePerTopic, 0},
	{"resume from every start kind", resume, 0},
	{"resume on topics never stored", resumeNotStored, 0},
	{"resume by time or count on topics never stored", resumeByTimeNotStored, 0},
	{"resume by time on stored and unstored topics", resumeByTimeMixed, 0},
	{"gap after retention", gapAfterRetention, shortRetention},
	{burstPastRetention, burst, shortRetention},
	{"retained", retained, 0},
	{"acknowledgement after store", acknowledged, 0},
	{"restart", restart, 0},
	{"stop tells every publisher", stopTells, 0},
	{"stats", stats, 0},
	{"names the engine carries", names, 0},
}

// engines are the engines the hub runs on, each built as internal/server
// builds it: one more is one more entry.
var engines = []func(*testing.T) engine{memory, pebble, jetStream}

// TestEngineConformance runs every behaviour on every engine, each on
// fresh data.
func TestEngineConformance(t *testing.T) {
	for _, e := range engines {
		t.Run(e(t).name, func(t *testing.T) {
			for _, b := range behaviours {
				t.Run(b.name, func(t *testing.T) { b.run(t, start(t, e, cmp.Or(b.retention, retention))) })
			}
		})
	}
}

// order: a publisher's messages reach a subscriber in the order
// published, synchronous and asynchronous publishes alike, with rising
// positions, on a durable topic and on a non-durable one.
func order(t *testing.T, n *node) {
	for _, name := range []string{"d/o", "n/o"} {
		s := n.subscribe(t, []string{name}, hub.StartFrom{})
		var want []string
		for i := range 50 {
			want = append(want, texts([]*message.Message{n.publish(t, name, fmt.Sprintf("sync%d", i), false)})...)
		}
		var acked sync.WaitGroup
		var mu sync.Mutex
		var failed []error
		for i := range 50 {
			p := fmt.Sprintf("async%d", i)
			want = append(want, p)
			acked.Add(1)
			n.PublishAsync(context.Background(), &message.Message{Topic: name, Payload: []byte(p)}, func(_ message.Cursor, err error) {
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
				acked.Done()
			})
		}
		acked.Wait()
		if len(failed) > 0 {
			t.Fatal(failed)
		}
		n.publish(t, name, "end", false)
		got := upTo(t, s, "end")
		same(t, name, payloads(got), want)
		for i := 1; i < len(got); i++ {
			if got[i].Msg.Seq <= got[i-1].Msg.Seq {
				t.Fatalf("%s: position %d after %d", name, got[i].Msg.Seq, got[i-1].Msg.Seq)
			}
		}
	}
}

// durablePerTopic: d/... is durable where the engine stores, n/... never
// is; a resume from before everything reads a durable topic whole from
// the store and answers a gap for the others, whose older messages left
// with the memory windows.
func durablePerTopic(t *testing.T, n *node) {
	for _, name := range []string{"d/x", "n/x"} {
		msgs := n.fill(t, name, 10)
		durable := n.can().stores && name == "d/x"
		i := slices.IndexFunc(n.Topics(), func(ti hub.TopicInfo) bool { return ti.Name == name })
		if i < 0 || n.Topics()[i].Durable != durable {
			t.Fatalf("%s: listed %+v, want durable %v", name, n.Topics(), durable)
		}
		s, st := n.subscribeAt(t, []string{name}, hub.StartFrom{FromSeq: msgs[0].Seq})
		n.publish(t, name, "end", false)
		got := payloads(upTo(t, s, "end"))
		if durable {
			if st.Gap {
				t.Fatalf("%s: gap on a durable topic", name)
			}
			same(t, name, got, texts(msgs))
			continue
		}
		if !st.Gap {
			t.Fatalf("%s: no gap though the windows lost messages", name)
		}
		same(t, name, got, texts(msgs[len(msgs)-windowMessages:]))
	}
}

func (n *node) can() caps { return n.e.can }

// resume: every start kind, inside the memory windows and past them,
// returns the resolved start and replays exactly what follows it; past
// the windows an engine that does not store answers a gap and replays
// what the windows hold.
func resume(t *testing.T, n *node) {
	msgs := n.fill(t, "d/r", 10)
	cursor := func(i int) *message.Cursor { c := msgs[i].Cursor(); return &c }
	// first is the index of the first message at or after msgs[i]'s time
	// (messages published in the same nanosecond share it).
	atTime := func(i int) int {
		return slices.IndexFunc(msgs, func(m *message.Message) bool { return !m.Time.Before(msgs[i].Time) })
	}
	cases := []struct {
		name  string
		from  hub.StartFrom
		first int // the index of the first message the start asks for
	}{
		{"cursor in windows", hub.StartFrom{After: cursor(7)}, 8},
		{"cursor past windows", hub.StartFrom{After: cursor(1)}, 2},
		{"cursor at head", hub.StartFrom{After: cursor(9)}, 10},
		{"sequence in windows", hub.StartFrom{FromSeq: msgs[8].Seq}, 8},
		{"sequence past windows", hub.StartFrom{FromSeq: msgs[2].Seq}, 2},
		{"time in windows", hub.StartFrom{Since: msgs[8].Time}, atTime(8)},
		{"time past windows", hub.StartFrom{Since: msgs[2].Time}, atTime(2)},
		{"time after everything", hub.StartFrom{Since: msgs[9].Time.Add(time.Nanosecond)}, 10},
		{"time before everything", hub.StartFrom{Since: msgs[0].Time.Add(-time.Hour)}, 0},
		{"last in windows", hub.StartFrom{Last: 3}, 7},
		{"last past windows", hub.StartFrom{Last: 8}, 2},
		{"last more than published", hub.StartFrom{Last: 50}, 0},
	}
	subs := make([]*hub.Subscription, len(cases))
	starts := make([]hub.Start, len(cases))
	for i, c := range cases {
		subs[i], starts[i] = n.subscribeAt(t, []string{"d/r"}, c.from)
	}
	n.publish(t, "d/r", "end", false)
	for i, c := range cases {
		got, st := payloads(upTo(t, subs[i], "end")), starts[i]
		held := n.can().stores || c.first >= len(msgs)-windowMessages
		if st.After == nil {
			t.Fatalf("%s: no resolved start", c.name)
		}
		firstSeq := ^uint64(0)
		if c.first < len(msgs) {
			firstSeq = msgs[c.first].Seq
		}
		if st.After.Seq >= firstSeq || st.After.Epoch != n.Epoch() {
			t.Fatalf("%s: resolved start %v, want before %d in epoch %s", c.name, *st.After, firstSeq, n.Epoch())
		}
		if c.from.After != nil && *st.After != *c.from.After || c.from.FromSeq > 0 && st.After.Seq != c.from.FromSeq-1 {
			t.Fatalf("%s: resolved start %v, want what was asked", c.name, *st.After)
		}
		if !held {
			if !st.Gap {
				t.Fatalf("%s: no gap, though the windows lost what it asks for", c.name)
			}
			same(t, c.name, got, texts(msgs[len(msgs)-windowMessages:]))
			continue
		}
		if c.first > 0 && c.from.After == nil && st.After.Seq < msgs[c.first-1].Seq {
			t.Fatalf("%s: resolved start %v, want at or after %d", c.name, *st.After, msgs[c.first-1].Seq)
		}
		if st.Gap {
			t.Fatalf("%s: gap, though nothing it asks for is lost", c.name)
		}
		same(t, c.name, got, texts(msgs[c.first:]))
	}
}

// gapAfterRetention: once retention removed messages a resume asks for,
// it answers a gap and replays what is kept: the stored tail where the
// engine stores, else the windows.
func gapAfterRetention(t *testing.T, n *node) {
	msgs := n.fill(t, "d/g", 30)
	from := hub.StartFrom{FromSeq: msgs[0].Seq}
	var s *hub.Subscription
	var st hub.Start
	poll.Eventually(t, wait, "retention", func() bool { // pebble enforces it in the background
		s, st = n.subscribeAt(t, []string{"d/g"}, from)
		if !st.Gap {
			s.Close()
		}
		return st.Gap
	})
	n.publish(t, "d/g", "end", false)
	got := payloads(upTo(t, s, "end"))
	if !n.can().stores {
		same(t, "replay", got, texts(msgs[len(msgs)-windowMessages:]))
	} else if len(got) == 0 || len(got) > shortRetention || !slices.Equal(got, texts(msgs[len(msgs)-len(got):])) {
		// Retention goes on while the replay reads (the marker is one
		// more message): what is kept is a tail, at most retention long.
		t.Fatalf("replay: got %q, want the last of %q, at most %d", got, texts(msgs), shortRetention)
	}
	if st.After == nil || st.After.Seq != msgs[0].Seq-1 {
		t.Fatalf("resolved start %v, want what was asked", st.After)
	}
}

// burstPastRetention names the behaviour and the JetStream divergence.
const burstPastRetention = "burst past retention"

// burst: a burst of asynchronous publishes longer than the durable
// stream's retention reaches a live subscriber whole and in order.
// Known divergence (jetstream): a node delivers live messages by reading
// the stream, so retention can remove what its consumer has not read yet,
// and the subscriber misses them; it still gets the rest in order.
func burst(t *testing.T, n *node) {
	s := n.subscribe(t, []string{"d/b"}, hub.StartFrom{})
	var want []string
	var acked sync.WaitGroup
	for i := range 3 * shortRetention {
		p := fmt.Sprintf("d/b#%d", i)
		want = append(want, p)
		acked.Add(1)
		n.PublishAsync(context.Background(), &message.Message{Topic: "d/b", Payload: []byte(p)}, func(_ message.Cursor, err error) {
			if err != nil {
				t.Error(err)
			}
			acked.Done()
		})
	}
	acked.Wait()
	n.publish(t, "d/b", "end", false)
	got := payloads(upTo(t, s, "end"))
	if _, diverges := n.e.known[burstPastRetention]; !diverges {
		same(t, "burst", got, want)
		return
	}
	if p, ok := inOrder(got, want); !ok { // possibly with holes
		t.Fatalf("burst: got %q, %q not in order among %q", got, p, want)
	}
}

// inOrder reports whether every one of sub is in all, in the same order
// (others may come between); if not, the first that is not.
func inOrder(sub, all []string) (string, bool) {
	for _, p := range sub {
		i := slices.Index(all, p)
		if i < 0 {
			return p, false
		}
		all = all[i+1:]
	}
	return "", true
}

// retained: a retained message is set, replaced and cleared, on a
// durable topic and on another; a new subscriber gets the current one.
func retained(t *testing.T, n *node) {
	for _, name := range []string{"d/k", "n/k"} {
		witness := n.subscribe(t, []string{name}, hub.StartFrom{})
		check := func(want ...string) {
			t.Helper()
			n.settle(t, witness, name)
			s := n.subscribe(t, []string{name}, hub.StartFrom{Retained: true})
			n.publish(t, name, "end", false)
			same(t, name, payloads(upTo(t, s, "end")), want)
		}
		n.publish(t, name, "v1", true)
		check("R:v1")
		n.publish(t, name, "v2", true)
		check("R:v2")
		if m := n.Retained(name); m == nil || string(m.Payload) != "v2" {
			t.Fatalf("%s: Retained is %v, want v2", name, m)
		}
		n.publish(t, name, "", true)
		check()
		if m := n.Retained(name); m != nil {
			t.Fatalf("%s: Retained is %v after clearing", name, m)
		}
	}
}

// readAfterAck names the JetStream divergence of acknowledged: a
// JetStream node's memory windows and retained messages learn of a
// message when its consumer delivers it, which may be after the
// publisher's acknowledgement, so a last=N placed at once may count from
// before it, and a new subscriber may get the retained message it
// replaced (the new one still arrives, live, after it).
const readAfterAck = "last=N and retained at once after an acknowledgement"

// acknowledged: once a durable publish is acknowledged, synchronous or
// asynchronous, a read started after it sees the message: from its
// sequence, from the cursor before it, as the last one, and as the
// retained message of its topic.
func acknowledged(t *testing.T, n *node) {
	m := n.publish(t, "d/a", "one", false)
	bySeq := n.subscribe(t, []string{"d/a"}, hub.StartFrom{FromSeq: m.Seq})
	done := make(chan message.Cursor, 1)
	n.PublishAsync(context.Background(), &message.Message{Topic: "d/a", Payload: []byte("two")}, func(c message.Cursor, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- c
	})
	c := <-done
	byCursor := n.subscribe(t, []string{"d/a"}, hub.StartFrom{After: &message.Cursor{Epoch: c.Epoch, Seq: c.Seq - 1}})
	n.publish(t, "d/a", "three", false)
	byCount := n.subscribe(t, []string{"d/a"}, hub.StartFrom{Last: 1})
	n.publish(t, "d/a", "end", false)
	same(t, "from the first", payloads(upTo(t, bySeq, "end")), []string{"one", "two", "three"})
	same(t, "from the second", payloads(upTo(t, byCursor, "end")), []string{"two", "three"})
	_, diverges := n.e.known[readAfterAck]
	last, all := payloads(upTo(t, byCount, "end")), []string{"one", "two", "three"}
	if !diverges || len(last) == 0 || !slices.Equal(last, all[len(all)-min(len(last), len(all)):]) {
		// The weaker contract: a tail of what was published, ending
		// with the acknowledged message.
		same(t, "the last", last, []string{"three"})
	}

	witness := n.subscribe(t, []string{"d/ar"}, hub.StartFrom{})
	n.publish(t, "d/ar", "old", true)
	n.settle(t, witness, "d/ar")
	n.publish(t, "d/ar", "new", true)
	r := n.subscribe(t, []string{"d/ar"}, hub.StartFrom{Retained: true})
	n.publish(t, "d/ar", "end", false)
	got := payloads(upTo(t, r, "end"))
	if !diverges || !slices.Equal(got, []string{"R:old", "new"}) {
		same(t, "retained", got, []string{"R:new"})
	}
}

// restart: an engine that persists keeps its position space, durable
// history and retained messages; one that does not comes back as a new
// engine, where an old cursor is a gap and nothing is retained.
func restart(t *testing.T, n *node) {
	msgs := n.fill(t, "d/p", 10)
	for _, name := range []string{"d/k", "n/k"} {
		witness := n.subscribe(t, []string{name}, hub.StartFrom{})
		n.publish(t, name, "kept", true)
		n.settle(t, witness, name)
	}
	epoch := n.Epoch()
	n.restart(t)
	if got := n.Epoch() == epoch; got != n.can().persists {
		t.Fatalf("same epoch after a restart: %v, want %v", got, n.can().persists)
	}
	c := msgs[4].Cursor()
	s, st := n.subscribeAt(t, []string{"d/p"}, hub.StartFrom{After: &c})
	r := n.subscribe(t, []string{"d/k", "n/k"}, hub.StartFrom{Retained: true})
	last := n.publish(t, "d/p", "end", false)
	n.publish(t, "d/k", "end", false)
	got, kept := payloads(upTo(t, s, "end")), payloads(upTo(t, r, "end"))
	if !n.can().persists {
		if !st.Gap || len(got) != 0 || len(kept) != 0 {
			t.Fatalf("a new engine: gap %v, replayed %q, retained %q; want a gap and nothing", st.Gap, got, kept)
		}
		return
	}
	if st.Gap {
		t.Fatal("gap after a restart")
	}
	same(t, "history", got, texts(msgs[5:]))
	same(t, "retained", kept, []string{"R:kept", "R:kept"})
	if last.Seq <= msgs[9].Seq {
		t.Fatalf("position %d after a restart, not past %d", last.Seq, msgs[9].Seq)
	}
}

// stopTells: a node stopped while asynchronous publishes wait for their
// store tells every publisher, once, whether its message was taken; an
// engine that persists replays every message it acknowledged after the
// restart, in order.
func stopTells(t *testing.T, n *node) {
	const count = 200
	var mu sync.Mutex
	told := make([]int, count)
	var ok []string
	all := make(chan struct{})
	left := count
	for i := range count {
		p := fmt.Sprintf("d/t#%d", i)
		n.PublishAsync(context.Background(), &message.Message{Topic: "d/t", Payload: []byte(p)}, func(_ message.Cursor, err error) {
			mu.Lock()
			defer mu.Unlock()
			if told[i]++; err == nil {
				ok = append(ok, p)
			}
			if left--; left == 0 {
				close(all)
			}
		})
	}
	epoch := n.Epoch()
	n.restart(t)
	select {
	case <-all:
	case <-time.After(wait):
		t.Fatalf("publishers told: %v", told)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, k := range told {
		if k != 1 {
			t.Fatalf("publisher %d told %d times", i, k)
		}
	}
	if !n.can().persists {
		return
	}
	s, st := n.subscribeAt(t, []string{"d/t"}, hub.StartFrom{After: &message.Cursor{Epoch: epoch}})
	n.publish(t, "d/t", "end", false)
	got := payloads(upTo(t, s, "end"))
	if st.Gap {
		t.Fatal("gap after a restart")
	}
	if p, in := inOrder(ok, got); !in { // in publish order, among what was stored besides
		t.Fatalf("acknowledged %q not replayed in order after the restart; replayed %q", p, got)
	}
}

// stats: once a publish is acknowledged, the engine's position has
// reached it and nothing waits; once the node delivered it, the hub's
// head has too.
func stats(t *testing.T, n *node) {
	for _, name := range []string{"d/s", "n/s"} {
		last := n.fill(t, name, 3)[2]
		st := n.Stats()
		if st.Engine.Position < last.Seq || st.Seq < last.Seq || st.Engine.Pending != 0 {
			t.Fatalf("%s: stats %+v after position %d", name, st, last.Seq)
		}
	}
}

// names: a topic name of 5000 bytes, valid in the grammar, is carried
// where the engine can, and otherwise refused with
// topic.ErrSubjectTooLong, when published and when subscribed to, before
// the engine sees it.
func names(t *testing.T, n *node) {
	long := "n/" + strings.Repeat("x", 5000)
	_, perr := n.Publish(context.Background(), &message.Message{Topic: long, Payload: []byte("x")})
	s := n.NewSubscription("conformance", hub.QueueLimits{})
	t.Cleanup(s.Close)
	_, serr := s.Subscribe([]string{long}, hub.StartFrom{})
	for what, err := range map[string]error{"name": n.ValidateName(long), "filter": n.ValidateFilter(long), "publish": perr, "subscribe": serr} {
		if refused := errors.Is(err, topic.ErrSubjectTooLong); refused == n.can().longNames || err != nil && !refused {
			t.Fatalf("%s of %d bytes: %v, want carried: %v", what, len(long), err, n.can().longNames)
		}
	}
	if n.can().longNames {
		n.publish(t, long, "end", false)
		if got := upTo(t, s, "end"); len(got) != 0 {
			t.Fatalf("before the marker: %q", payloads(got))
		}
	}
}

// resumeNotStored: a resume older than the windows on topics no engine
// stores reads what each family's window still holds, a quiet family's
// older messages included, and is a gap (a busy family's window lost
// some). Every engine says it replays nothing from its store here (a
// stored engine would otherwise scan it for nothing and start at the busy
// window).
func resumeNotStored(t *testing.T, n *node) {
	quiet := n.fill(t, "m/q", 2)
	busy := n.fill(t, "n/b", 10)
	s, st := n.subscribeAt(t, []string{"m/#", "n/#"}, hub.StartFrom{After: &message.Cursor{Epoch: n.Epoch(), Seq: quiet[0].Seq - 1}})
	n.publish(t, "n/b", "end", false)
	got := payloads(upTo(t, s, "end"))
	if !st.Gap {
		t.Fatal("no gap, though the busy window lost messages")
	}
	same(t, "replay", got, append(texts(quiet), texts(busy[len(busy)-windowMessages:])...))
}

// resumeByTimeNotStored: a start by time or count before what the
// windows hold, on topics no engine stores, is a gap (the windows lost
// messages it asks for) with what the windows hold, wherever the engine
// stores other topics.
func resumeByTimeNotStored(t *testing.T, n *node) {
	msgs := n.fill(t, "n/t", 10)
	froms := []hub.StartFrom{{Since: msgs[0].Time}, {Last: 8}}
	subs, starts := make([]*hub.Subscription, len(froms)), make([]hub.Start, len(froms))
	for i, from := range froms {
		subs[i], starts[i] = n.subscribeAt(t, []string{"n/#"}, from)
	}
	n.publish(t, "n/t", "end", false)
	for i, from := range froms {
		got := payloads(upTo(t, subs[i], "end"))
		if !starts[i].Gap {
			t.Fatalf("%+v: no gap, though the windows lost messages it asks for", from)
		}
		same(t, "replay", got, texts(msgs[len(msgs)-windowMessages:]))
	}
}

// resumeByTimeMixed: a start by time whose filters reach a stored topic
// with nothing to replay and an unstored one whose window lost messages
// it asks for is a gap, with what the windows hold.
func resumeByTimeMixed(t *testing.T, n *node) {
	n.fill(t, "d/early", 2)
	msgs := n.fill(t, "n/t", 10)
	s, st := n.subscribeAt(t, []string{"d/#", "n/#"}, hub.StartFrom{Since: msgs[0].Time})
	n.publish(t, "n/t", "end", false)
	got := payloads(upTo(t, s, "end"))
	if !st.Gap {
		t.Fatal("no gap, though the windows lost messages it asks for")
	}
	same(t, "replay", got, texts(msgs[len(msgs)-windowMessages:]))
}
