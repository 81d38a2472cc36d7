package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/store"
	"streamhub/internal/registry"
	"streamhub/internal/testkit"
	"streamhub/internal/testkit/poll"
	"streamhub/internal/webhook"
)

const secret = "s3cret"

// fastHook retries quickly and gives up an attempt soon, so that a test
// goes through outages in little time (nothing asserts durations).
func fastHook(url string, events ...string) webhook.Hook {
	return webhook.Hook{Name: "test", URL: url, Secret: secret, Events: events,
		Timeout: 300 * time.Millisecond, Backoff: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
}

type rig struct {
	hub *hub.Hub
	reg *registry.Registry
	m   *webhook.Manager
}

// start runs a manager of hooks over a fresh hub and registry, with the
// queues in st (nil: in memory).
func start(t *testing.T, st webhook.Store, hooks ...webhook.Hook) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New(hub.Defaults(), log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	m, err := webhook.New(webhook.Config{Hooks: hooks, Store: st, Version: "test"}, log)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{hub: h, reg: registry.New(), m: m}
	if err := m.Start(h, r.reg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return r
}

func (r *rig) state(t *testing.T) webhook.State {
	t.Helper()
	states := r.m.States()
	if len(states) != 1 {
		t.Fatalf("%d hooks, want 1", len(states))
	}
	return states[0]
}

// connect lists n connections (remote 10.0.0.1:1, 2, …) and removes them.
func (r *rig) connect(n int) {
	for i := 1; i <= n; i++ {
		r.reg.Add(registry.Conn{Transport: "mqtt", Remote: "10.0.0.1:" + strconv.Itoa(i)})()
	}
}

// checkConnects checks that evs are connect/disconnect pairs of
// connections 1…n, in order.
func checkConnects(t *testing.T, evs []webhook.Event, n int) {
	t.Helper()
	if len(evs) != 2*n {
		t.Fatalf("%d events, want %d", len(evs), 2*n)
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		want := webhook.Connect
		if i%2 == 1 {
			want = webhook.Disconnect
		}
		if remote := "10.0.0.1:" + strconv.Itoa(i/2+1); ev.Event != want || ev.Conn == nil || ev.Conn.Remote != remote {
			t.Fatalf("event %d: %+v %+v, want %s of %s", i, ev, ev.Conn, want, remote)
		}
		if seen[ev.ID] {
			t.Fatalf("event %d: id %s delivered twice", i, ev.ID)
		}
		seen[ev.ID] = true
	}
}

// TestWebhookOutages: a receiver that is down, then refusing, then too
// slow, gets every event once it takes them, signed, in order.
func TestWebhookOutages(t *testing.T) {
	t.Parallel()
	for _, durable := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "store"}[durable], func(t *testing.T) {
			t.Parallel()
			recv := testkit.NewHookReceiver(t, secret)
			var st webhook.Store
			if durable {
				st = openStore(t, t.TempDir())
			}
			r := start(t, st, fastHook(recv.URL, webhook.Connect, webhook.Disconnect))
			const n = 20
			r.connect(n)
			poll.Eventually(t, 0, "failed attempts while the receiver is down", func() bool { return r.state(t).Failed >= 2 })
			recv.Set(testkit.HookRefusing)
			recv.WaitRequests(t, testkit.HookRefusing, 2)
			recv.Set(testkit.HookSlow)
			recv.WaitRequests(t, testkit.HookSlow, 1)
			if got := recv.Events(); len(got) != 0 {
				t.Fatalf("events taken before the receiver took any: %v", got)
			}
			recv.Set(testkit.HookOK)
			checkConnects(t, recv.Wait(t, 2*n), n)
			// The receiver keeps an event before it answers: the sender
			// counts it once the answer is back.
			poll.Eventually(t, 0, "every delivery counted", func() bool { return r.state(t).Delivered == 2*n })
			st2 := r.state(t)
			if st2.Delivered != 2*n || st2.Queued != 0 || st2.Failed < 4 || st2.Retries < 4 || st2.LastError == "" ||
				st2.LastOK == nil || st2.Dropped != 0 || st2.Durable != durable {
				t.Fatalf("state %+v", st2)
			}
		})
	}
}

// openStore opens the store in dir until closeStore or the test's end.
func openStore(t *testing.T, dir string) *store.Store {
	st, _ := openClosable(t, dir)
	return st
}

func openClosable(t *testing.T, dir string) (st *store.Store, closeStore func() error) {
	t.Helper()
	st, err := store.Open(store.Config{Dir: filepath.Join(dir, "store")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	closeStore = sync.OnceValue(st.Close)
	t.Cleanup(func() { closeStore() })
	return st, closeStore
}

// TestWebhookSurvivesRestart: events queued in the store while the
// receiver refuses them are delivered, in order and with the ids first
// tried, by the next process.
func TestWebhookSurvivesRestart(t *testing.T) {
	t.Parallel()
	recv := testkit.NewHookReceiver(t, secret)
	recv.Set(testkit.HookRefusing)
	dir := t.TempDir()
	st, closeStore := openClosable(t, dir)
	r := start(t, st, fastHook(recv.URL, webhook.Connect, webhook.Disconnect))
	const n = 5
	r.connect(n)
	recv.WaitRequests(t, testkit.HookRefusing, 1)
	r.m.Close()
	if err := closeStore(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := webhook.New(webhook.Config{Hooks: []webhook.Hook{fastHook(recv.URL, webhook.Connect, webhook.Disconnect)}, Store: st}, log)
	if err != nil {
		t.Fatal(err)
	}
	if q := m.States()[0].Queued; q != 2*n {
		t.Fatalf("%d events queued after the restart, want %d", q, 2*n)
	}
	recv.Set(testkit.HookOK)
	h, err := hub.New(hub.Defaults(), log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := m.Start(h, registry.New()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	checkConnects(t, recv.Wait(t, 2*n), n)
	poll.Eventually(t, 0, "an empty queue", func() bool { return m.States()[0].Queued == 0 })
	// Nothing is left to send a third time.
	if c, _, err := st.QueueStat("webhook/test"); err != nil || c != 0 {
		t.Fatalf("stored queue holds %d (%v)", c, err)
	}
}

// TestWebhookPublishFilter: publish events only for the hook's filters,
// with the message as the JSON envelope carries it; media paths' state
// changes as media.online and media.offline, not their retained state.
func TestWebhookPublishFilter(t *testing.T) {
	t.Parallel()
	recv := testkit.NewHookReceiver(t, secret)
	recv.Set(testkit.HookOK)
	hk := fastHook(recv.URL, webhook.Publish, webhook.MediaOnline, webhook.MediaOffline)
	hk.Topics = []string{"a/#", "c/+"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New(hub.Defaults(), log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ctx := context.Background()
	pub := func(topic, payload string, retain bool) {
		t.Helper()
		if _, err := h.Publish(ctx, &message.Message{Topic: topic, Payload: []byte(payload), Retain: retain}); err != nil {
			t.Fatal(err)
		}
	}
	state := func(path string, online bool) string {
		return fmt.Sprintf(`{"path":%q,"online":%t,"source":"rtmp"}`, path, online)
	}
	pub("$media/old", state("old", true), true) // online before the start: no event
	m, err := webhook.New(webhook.Config{Hooks: []webhook.Hook{hk}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(h, registry.New()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	pub("a/1", "one", false)
	pub("b/1", "not sent", false)
	pub("c/x/y", "not sent", false)
	pub("$media/cam", state("cam", true), true)
	pub("$media/cam", state("cam", true), true) // a reader came: still online
	pub("c/2", "two", false)
	pub("$media/cam", state("cam", false), true)
	pub("$media/old", state("old", false), true)
	pub("a/b/c", "three", true)
	evs := recv.Wait(t, 6)
	type short struct{ event, topic, payload, path string }
	var got []short
	for _, ev := range evs {
		s := short{event: ev.Event}
		if ev.Message != nil {
			var env struct{ Topic, Payload string }
			if err := json.Unmarshal(ev.Message, &env); err != nil {
				t.Fatal(err)
			}
			s.topic, s.payload = env.Topic, env.Payload
		}
		if ev.Media != nil {
			s.path = ev.Media.Path
		}
		got = append(got, s)
	}
	want := []short{{event: "publish", topic: "a/1", payload: "one"}, {event: "media.online", path: "cam"},
		{event: "publish", topic: "c/2", payload: "two"}, {event: "media.offline", path: "cam"},
		{event: "media.offline", path: "old"}, {event: "publish", topic: "a/b/c", payload: "three"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
}

// TestWebhookBounds: a full memory queue drops the newest events, and an
// event that failed Attempts times is dropped; both are counted.
func TestWebhookBounds(t *testing.T) {
	t.Parallel()
	recv := testkit.NewHookReceiver(t, secret)
	hk := fastHook(recv.URL, webhook.Connect, webhook.Disconnect)
	hk.Queue, hk.Attempts = 3, 2
	r := start(t, nil, hk)
	r.connect(3) // six events: three fit
	poll.Eventually(t, 0, "two attempts at each queued event", func() bool {
		st := r.state(t)
		return st.Dropped == 6 && st.Queued == 0
	})
	recv.Set(testkit.HookOK)
	r.connect(1)
	evs := recv.Wait(t, 2)
	if len(evs) != 2 || evs[0].Event != webhook.Connect || evs[1].Event != webhook.Disconnect {
		t.Fatalf("events after the drops: %+v", evs)
	}
}

// TestWebhookSubscribe: a subscribe of a listed connection is an event
// with its connection; filters a connection had when listed come right
// after its connect event; the hub's subscriptions of no connection are
// not events.
func TestWebhookSubscribe(t *testing.T) {
	t.Parallel()
	recv := testkit.NewHookReceiver(t, secret)
	recv.Set(testkit.HookOK)
	r := start(t, nil, fastHook(recv.URL, webhook.Connect, webhook.Subscribe))

	before := r.hub.NewSubscription("sse", hub.QueueLimits{})
	if _, err := before.Subscribe([]string{"x/#"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	defer r.reg.Add(registry.Conn{Transport: "sse", Identity: "ann", Remote: "r1", Queue: before})()
	after := r.hub.NewSubscription("ws", hub.QueueLimits{})
	defer r.reg.Add(registry.Conn{Transport: "ws", Identity: "bob", Remote: "r2", Queue: after})()
	if _, err := after.Subscribe([]string{"y", "z/+"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	nobody := r.hub.NewSubscription("tcp-out", hub.QueueLimits{})
	if _, err := nobody.Subscribe([]string{"q"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	r.reg.Add(registry.Conn{Transport: "mqtt", Remote: "r3"})
	evs := recv.Wait(t, 5)
	got := ""
	for _, ev := range evs {
		got += fmt.Sprintf("%s %s %s %v; ", ev.Event, ev.Conn.Transport, ev.Conn.Identity, ev.Filters)
	}
	want := "connect sse ann []; subscribe sse ann [x/#]; connect ws bob []; subscribe ws bob [y z/+]; connect mqtt  []; "
	if got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
}

// TestSignature: Sign is HMAC-SHA256 of the body, and Verify refuses a
// changed body or another secret.
func TestSignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"x"}`)
	// echo -n '{"id":"x"}' | openssl dgst -sha256 -hmac s3cret
	const want = "sha256=9f0beccf514841d21c56dba276089c2345c12d5d2deb19b4d22c873371e5e8b6"
	got := webhook.Sign(secret, body)
	if got != want || !webhook.Verify(secret, body, got) {
		t.Fatalf("signature %s", got)
	}
	if webhook.Verify(secret, []byte(`{"id":"y"}`), got) || webhook.Verify("other", body, got) {
		t.Fatal("a wrong body or secret verified")
	}
}

// BenchmarkDelivery: events through one hook to a local receiver that
// takes them at once, with the queue in memory and in the store (each
// batch written synced before it is sent).
//
//	go test -run '^$' -bench Delivery -benchtime 5000x ./internal/webhook/
func BenchmarkDelivery(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "store"}[durable], func(b *testing.B) {
			var taken atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				taken.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			var st webhook.Store
			if durable {
				s, err := store.Open(store.Config{Dir: b.TempDir()}, log)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				st = s
			}
			hk := fastHook(srv.URL, webhook.Connect)
			hk.Queue = b.N + 1
			m, err := webhook.New(webhook.Config{Hooks: []webhook.Hook{hk}, Store: st}, log)
			if err != nil {
				b.Fatal(err)
			}
			h, err := hub.New(hub.Defaults(), log, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			reg := registry.New()
			if err := m.Start(h, reg); err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			b.ResetTimer()
			for range b.N {
				reg.Add(registry.Conn{Transport: "mqtt", Remote: "10.0.0.1:1"})
			}
			poll.Eventually(b, time.Minute, "every event taken", func() bool { return taken.Load() == int64(b.N) })
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
