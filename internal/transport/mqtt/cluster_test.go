package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/sessions"
	"streamhub/internal/testkit/poll"
)

// fakeCluster keeps session records in one memory store and carries
// handovers to the servers of the nodes that serve them; a node marked
// unreachable answers none (as one that hangs or is cut off).
type fakeCluster struct {
	*sessions.Memory
	mu          sync.Mutex
	handlers    map[string]func(string)
	unreachable map[string]bool
	readFails   bool // every Load fails (NATS slow or gone)
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{Memory: sessions.NewMemory(), handlers: map[string]func(string){}, unreachable: map[string]bool{}}
}

func (fc *fakeCluster) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	fc.mu.Lock()
	fails := fc.readFails
	fc.mu.Unlock()
	if fails {
		return nil, 0, errors.New("timeout")
	}
	return fc.Memory.Load(ctx, key)
}

// clusterNode is one node's view of a fakeCluster.
type clusterNode struct {
	*fakeCluster
	node string
}

var (
	_ Nodes          = clusterNode{}
	_ Sharing        = clusterNode{}
	_ sessions.Store = clusterNode{}
)

func (n clusterNode) Node() string { return n.node }

func (n clusterNode) Handover(_ context.Context, node, key string) error {
	n.mu.Lock()
	h, down := n.handlers[node], n.unreachable[node]
	n.mu.Unlock()
	if h == nil || down {
		return errors.New("no answer")
	}
	h(key)
	return nil
}

func (n clusterNode) ServeHandovers(handle func(string)) (func(), error) {
	n.mu.Lock()
	n.handlers[n.node] = handle
	n.mu.Unlock()
	return func() {}, nil
}

func (n clusterNode) Share(string, string, func(*message.Message)) (func(), error) {
	return func() {}, nil
}

func (clusterNode) CheckShare(string, string) error { return nil }

func (n clusterNode) holder(key string) string {
	var rec sessionRecord
	if b, _, _ := n.Memory.Load(context.Background(), key); b == nil || json.Unmarshal(b, &rec) != nil {
		return ""
	}
	return rec.Holder
}

// quietHub is an in-memory hub that logs nothing, until the test ends.
func quietHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, err := hub.New(hub.Defaults(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// clusterServer is an MQTT server of node on hub h (nodes share one hub
// here: one position space, and every will lands in it), with its own
// clock for the session timers.
func clusterServer(t *testing.T, h *hub.Hub, fc *fakeCluster, node string) (*Server, *fakeClock) {
	t.Helper()
	clock := &fakeClock{}
	n := clusterNode{fc, node}
	s := New(h, Config{SessionExpiryMax: time.Hour, Sessions: n, Nodes: n, Sharing: n},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nopMeter{})
	s.afterFunc = clock.afterFunc
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, clock
}

// dropWithDelayedWill connects clientID to s with a will delayed 10 s and a
// session expiry of 60 s, drops the connection and waits for the session
// to be detached.
func dropWithDelayedWill(t *testing.T, s *Server, clientID string) {
	t.Helper()
	c := dialPipe(t, s, 5, func(string, string) {})
	c.send(t, connectPacket(5, clientID, "", "", true, 60, clientID, 10))
	c.await(t, packets.Connack, 0)
	c.nc.Close()
	<-c.done
	poll.Eventually(t, 5*time.Second, "the dropped connection detached", func() bool {
		ss := s.session(clientID)
		return ss != nil && ss.active.Load() == nil
	})
}

// TestClusterResumeElsewhereCancelsDelayedWill: a delayed will of a
// connection dropped on node A is not fired once the session resumed on
// node B, whether A handed it over (its timer stops) or could not be
// reached (B's write of the record makes A's compare-and-set fail); a
// session nobody resumes fires its will once.
func TestClusterResumeElsewhereCancelsDelayedWill(t *testing.T) {
	for _, reachable := range []bool{true, false} {
		t.Run(map[bool]string{true: "handed over", false: "holder unreachable"}[reachable], func(t *testing.T) {
			h := quietHub(t)
			wills := h.NewSubscription("test", hub.QueueLimits{Messages: 100})
			if _, err := wills.Subscribe([]string{"will/#"}, hub.StartFrom{}); err != nil {
				t.Fatal(err)
			}
			fc := newFakeCluster()
			a, clockA := clusterServer(t, h, fc, "a")
			b, _ := clusterServer(t, h, fc, "b")

			dropWithDelayedWill(t, a, "moving")
			dropWithDelayedWill(t, a, "staying")
			fc.mu.Lock()
			fc.unreachable["a"] = !reachable
			fc.mu.Unlock()
			c := dialPipe(t, b, 5, func(string, string) {})
			c.send(t, connectPacket(5, "moving", "", "", false, 60, "", 0))
			if ack := c.await(t, packets.Connack, 0); !ack.SessionPresent {
				t.Fatal("session not present on B")
			}
			if got := (clusterNode{fc, "b"}).holder("moving"); got != "b" {
				t.Fatalf("record's holder %q after the resume on B, want b", got)
			}

			clockA.advance(11 * time.Second)
			var fired []string
			for _, d := range wills.Drain(nil) {
				fired = append(fired, d.Msg.Topic)
			}
			if len(fired) != 1 || fired[0] != "will/staying" {
				t.Fatalf("wills fired: %q, want will/staying only", fired)
			}
		})
	}
}

// FuzzSessionRecord: whatever record another node wrote, resuming from it
// neither panics nor leaves a session that does not match its key.
func FuzzSessionRecord(f *testing.F) {
	h, err := hub.New(hub.Defaults(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	epoch := h.Epoch()
	good, _ := json.Marshal(sessionRecord{Client: "c", Expiry: time.Minute, Holder: "a",
		Cursor:  message.Cursor{Epoch: epoch, Seq: 0}.String(),
		Filters: []filterRecord{{Filter: "a/#", subRec: subRec{QoS: 1}}}, Shared: map[string]subRec{"$share/g/x": {QoS: 2}}})
	f.Add(string(good))
	f.Add(`{"client":"c","expiry":1e18,"cursor":"x-1","filters":[{"filter":"#/a"}]}`)
	f.Add(`{"owner":"o","client":"c","expiry":60000000000,"disconnected":"2000-01-01T00:00:00Z"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var rec sessionRecord
		if json.Unmarshal([]byte(raw), &rec) != nil {
			return
		}
		rec.Cursor = message.Cursor{Epoch: epoch, Seq: 0}.String() // reach past the epoch check
		s := New(h, Config{SessionExpiryMax: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)), nopMeter{})
		s.afterFunc = (&fakeClock{}).afterFunc
		key := sessionKey(rec.Owner, rec.Client)
		if s.restoreSession(key, &rec, 0, epoch) {
			if ss := s.session(key); ss != nil && (ss.id != key || ss.clientID() != rec.Client) {
				t.Fatalf("restored %q as %q/%q", key, ss.id, ss.clientID())
			}
		}
		for _, ss := range s.sessionList() {
			ss.end()
		}
		s.Close()
	})
}

// TestQueueFeedDropsOldest: a cluster group's feed holds at most its
// bound, drops the oldest beyond it (each drop reported), and drains in
// order.
func TestQueueFeedDropsOldest(t *testing.T) {
	drops := 0
	f := &queueFeed{ready: make(chan struct{}, 1), max: 3, dropped: func() { drops++ }}
	for _, topic := range []string{"a", "b", "c", "d", "e"} {
		f.push(&message.Message{Topic: topic})
	}
	select {
	case <-f.Ready():
	default:
		t.Fatal("not ready after pushes")
	}
	var got []string
	for _, d := range f.DrainUpTo(nil, 2) {
		got = append(got, d.Msg.Topic)
	}
	for _, d := range f.DrainUpTo(nil, 5) {
		got = append(got, d.Msg.Topic)
	}
	if want := []string{"c", "d", "e"}; !slices.Equal(got, want) || drops != 2 {
		t.Fatalf("drained %q with %d drops, want %q with 2", got, drops, want)
	}
}

// TestClusterUnreadableRecordKeepsLocalSession: when the cluster cannot
// be read at CONNECT, the session this node holds is resumed, not taken
// for a stale copy and dropped.
func TestClusterUnreadableRecordKeepsLocalSession(t *testing.T) {
	h := quietHub(t)
	fc := newFakeCluster()
	a, _ := clusterServer(t, h, fc, "a")
	dropWithDelayedWill(t, a, "dev")
	fc.mu.Lock()
	fc.readFails = true
	fc.mu.Unlock()
	c := dialPipe(t, a, 5, func(string, string) {})
	c.send(t, connectPacket(5, "dev", "", "", false, 60, "", 0))
	if ack := c.await(t, packets.Connack, 0); !ack.SessionPresent {
		t.Fatal("the node's own session was dropped when the cluster could not be read")
	}
}

// TestNodeTakesUpItsRecordsAtStart: a node that starts takes up the
// sessions whose records name it, as a node alone takes up its data
// directory's, deletes those of no use (a connection that ended with the
// node), and leaves other nodes' records alone.
func TestNodeTakesUpItsRecordsAtStart(t *testing.T) {
	h := quietHub(t)
	fc := newFakeCluster()
	a, _ := clusterServer(t, h, fc, "a")
	b, _ := clusterServer(t, h, fc, "b")
	dropWithDelayedWill(t, a, "persistent")
	dropWithDelayedWill(t, b, "elsewhere")
	clean := dialPipe(t, a, 5, func(string, string) {})
	clean.send(t, connectPacket(5, "clean", "", "", true, 0, "", 0))
	clean.await(t, packets.Connack, 0)
	if got := (clusterNode{fc, "a"}).holder("clean"); got != "a" {
		t.Fatalf("a connected session's record names %q, want a", got)
	}
	a.Close() // the connected session's record stays, as after a kill

	again, _ := clusterServer(t, h, fc, "a")
	if again.session("persistent") == nil {
		t.Fatal("the node's persistent session was not taken up")
	}
	if again.session("elsewhere") != nil || (clusterNode{fc, "b"}).holder("elsewhere") != "b" {
		t.Fatal("another node's session was taken up or its record touched")
	}
	if rec, _, _ := fc.Memory.Load(context.Background(), "clean"); rec != nil || again.session("clean") != nil {
		t.Fatalf("the record of a session that ended with its connection stayed: %s", rec)
	}
}
