package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

func newTestHub(t testing.TB, cfg Config) *Hub {
	h, err := New(cfg, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func publish(t testing.TB, h *Hub, name, payload string, retain bool) message.Cursor {
	t.Helper()
	c, err := h.Publish(context.Background(), &message.Message{Topic: name, Payload: []byte(payload), Retain: retain})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func payloads(s *Subscription) []string {
	var out []string
	for _, d := range s.Drain(nil) {
		p := string(d.Msg.Payload)
		if d.Retained {
			p = "R:" + p
		}
		out = append(out, p)
	}
	return out
}

func equal(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFanOutOnceAcrossOverlappingFilters(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Defaults())
	s := h.NewSubscription("test", QueueLimits{})
	if _, err := s.Subscribe([]string{"iot/#", "iot/+/temperature"}, StartFrom{}); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "iot/sensor/temperature", "25", false)
	publish(t, h, "other", "x", false)
	publish(t, h, "iot", "root", false)
	equal(t, payloads(s), "25", "root")
	s.Unsubscribe([]string{"iot/#"})
	publish(t, h, "iot", "gone", false)
	publish(t, h, "iot/a/temperature", "26", false)
	equal(t, payloads(s), "26")
}

func TestRetained(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Defaults())
	publish(t, h, "a/1", "one", true)
	publish(t, h, "a/2", "two", true)
	publish(t, h, "a/2", "two'", true)
	publish(t, h, "a/3", "three", true)
	publish(t, h, "a/3", "", true) // clears
	s := h.NewSubscription("test", QueueLimits{})
	start, err := s.Subscribe([]string{"a/+", "a/1"}, StartFrom{Retained: true})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, payloads(s), "R:one", "R:two'")
	if start.Head.Seq != 5 {
		t.Fatalf("head %v", start.Head)
	}
	publish(t, h, "a/1", "live", true)
	equal(t, payloads(s), "live")
}

func TestResumeAndGap(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.HistoryMessages = 3
	h := newTestHub(t, cfg)
	c1 := publish(t, h, "t", "1", false)
	publish(t, h, "u", "2", false)
	publish(t, h, "t", "3", false)
	s := h.NewSubscription("test", QueueLimits{})
	start, err := s.Subscribe([]string{"t"}, StartFrom{After: &c1})
	if err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, payloads(s), "3")
	publish(t, h, "t", "4", false)
	publish(t, h, "t", "5", false)
	publish(t, h, "t", "6", false) // evicts 1 and 3 from the window of "t"
	s2 := h.NewSubscription("test", QueueLimits{})
	if start, _ := s2.Subscribe([]string{"t"}, StartFrom{After: &c1}); !start.Gap {
		t.Fatal("expected a gap")
	}
	equal(t, payloads(s2), "4", "5", "6")
	other := message.Cursor{Epoch: "elsewhere", Seq: 1}
	s3 := h.NewSubscription("test", QueueLimits{})
	if start, _ := s3.Subscribe([]string{"t"}, StartFrom{After: &other}); !start.Gap {
		t.Fatal("expected a gap for another epoch")
	}
}

func TestSlowConsumerPolicies(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Defaults())
	drop := h.NewSubscription("test", QueueLimits{Messages: 3, Overflow: DropOldest})
	cut := h.NewSubscription("test", QueueLimits{Messages: 3, Overflow: Disconnect})
	fast := h.NewSubscription("test", QueueLimits{Messages: 3})
	for _, s := range []*Subscription{drop, cut, fast} {
		if _, err := s.Subscribe([]string{"#"}, StartFrom{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for i := range 10 {
		publish(t, h, "t", fmt.Sprint(i), false)
		got = append(got, payloads(fast)...)
	}
	equal(t, got, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	equal(t, payloads(drop), "7", "8", "9")
	if drop.Dropped() != 7 {
		t.Fatalf("dropped %d", drop.Dropped())
	}
	<-cut.Done()
	if !errors.Is(cut.Err(), ErrSlowConsumer) {
		t.Fatalf("err %v", cut.Err())
	}
	if st := h.Stats(); st.Subscriptions != 2 {
		t.Fatalf("slow subscription still registered: %+v", st)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	t.Parallel()
	h, _ := New(Defaults(), slog.New(slog.DiscardHandler), nil, nil)
	s := h.NewSubscription("test", QueueLimits{})
	h.Close()
	<-s.Done()
	if !errors.Is(s.Err(), ErrShutdown) {
		t.Fatal(s.Err())
	}
	if _, err := h.NewSubscription("x", QueueLimits{}).Subscribe([]string{"a"}, StartFrom{}); err == nil {
		t.Fatal("subscribe after close succeeded")
	}
}

func TestPublishValidates(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.MaxPayload = 4
	h := newTestHub(t, cfg)
	if _, err := h.Publish(context.Background(), &message.Message{Topic: "a/#"}); err == nil {
		t.Fatal("wildcard topic accepted")
	}
	if _, err := h.Publish(context.Background(), &message.Message{Topic: "a", Payload: []byte("12345")}); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
}

func BenchmarkFanOut1000(b *testing.B) {
	h := newTestHub(b, Defaults())
	subs := make([]*Subscription, 1000)
	for i := range subs {
		subs[i] = h.NewSubscription("bench", QueueLimits{Messages: 1 << 20, Bytes: 1 << 30})
		subs[i].Subscribe([]string{"bench/+"}, StartFrom{})
	}
	payload := make([]byte, 100)
	b.ReportAllocs()
	var buf []Delivery
	i := 0
	for b.Loop() {
		h.Publish(context.Background(), &message.Message{Topic: "bench/x", Payload: payload})
		if i++; i%256 == 0 {
			for _, s := range subs {
				buf = s.Drain(buf)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/delivery")
}

// BenchmarkSubscribeRetained100k: a wildcard subscription over 100,000
// retained topics, queued for delivery.
func BenchmarkSubscribeRetained100k(b *testing.B) {
	h := newTestHub(b, Defaults())
	for i := range 100_000 {
		h.Publish(context.Background(), &message.Message{Topic: fmt.Sprintf("sensors/%d/state", i), Payload: []byte("x"), Retain: true})
	}
	b.ReportAllocs()
	for b.Loop() {
		s := h.NewSubscription("bench", QueueLimits{})
		s.Subscribe([]string{"sensors/+/state"}, StartFrom{Retained: true})
		if got := len(s.Drain(nil)); got != 100_000 {
			b.Fatalf("got %d", got)
		}
		s.Close()
	}
}

// TestBacklogOutsideLimits: a retained backlog larger than the queue limit
// is delivered whole, and live overflow drops live messages only.
func TestBacklogOutsideLimits(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Defaults())
	for i := range 10 {
		publish(t, h, fmt.Sprintf("r/%d", i), "kept", true)
	}
	s := h.NewSubscription("test", QueueLimits{Messages: 3, Overflow: DropOldest})
	if _, err := s.Subscribe([]string{"r/+"}, StartFrom{Retained: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		publish(t, h, "r/live", fmt.Sprint(i), false)
	}
	got := payloads(s)
	if len(got) != 13 || got[0] != "R:kept" || got[9] != "R:kept" || fmt.Sprint(got[10:]) != "[2 3 4]" {
		t.Fatalf("got %q", got)
	}
}

func TestTopicsTrackRatesAndRetained(t *testing.T) {
	h, err := New(Defaults(), slog.Default(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, m := range []*message.Message{
		{Topic: "a/b", Payload: []byte("1")}, {Topic: "a/b", Payload: []byte("2")},
		{Topic: "a/c", Payload: []byte("r"), Retain: true},
	} {
		if _, err := h.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	topics := h.Topics()
	if len(topics) != 2 || topics[0].Name != "a/b" || topics[0].Messages != 2 || topics[0].Rate <= 0 ||
		string(topics[0].Last.Payload) != "2" || topics[0].Retained || !topics[1].Retained {
		t.Fatalf("topics %+v", topics)
	}
	if r := h.RetainedMessages(); len(r) != 1 || r[0].Topic != "a/c" {
		t.Errorf("retained %+v", r)
	}
}

func TestWatched(t *testing.T) {
	h, err := New(Defaults(), slog.Default(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Watched("$SYS/x") {
		t.Error("watched without subscriptions")
	}
	s := h.NewSubscription("test", QueueLimits{})
	if _, err := s.Subscribe([]string{"$SYS/#"}, StartFrom{}); err != nil {
		t.Fatal(err)
	}
	if !h.Watched("$SYS/x") || h.Watched("other") {
		t.Error("Watched does not follow the filters")
	}
}

// BenchmarkPublish100Topics is the cost of a publish nobody subscribes to,
// over 100 topics: the hub's own bookkeeping (cursor, history, topic
// statistics).
func BenchmarkPublish100Topics(b *testing.B) {
	h, _ := New(Defaults(), slog.Default(), nil, nil)
	defer h.Close()
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("bench/sensor/%d", i)
	}
	ctx := context.Background()
	payload := []byte("21.5")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = h.Publish(ctx, &message.Message{Topic: names[i%100], Payload: payload})
		i++
	}
}

func TestTopicsKeepSmallPayloadsOnly(t *testing.T) {
	h, _ := New(Defaults(), slog.Default(), nil, nil)
	defer h.Close()
	if _, err := h.Publish(context.Background(), &message.Message{Topic: "big", Payload: make([]byte, 4096)}); err != nil {
		t.Fatal(err)
	}
	if topics := h.Topics(); topics[0].Last != nil || topics[0].LastSize != 4096 {
		t.Errorf("a 4 KiB payload kept alive: %+v", topics[0])
	}
}

// TestHistoryWindowPerStream: a busy topic family does not evict a quiet
// family's resume window; each family keeps its own.
func TestHistoryWindowPerStream(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Config{HistoryMessages: 3, HistoryBytes: 1 << 20, HistoryAge: time.Hour})
	before := publish(t, h, "other/x", "0", false)
	publish(t, h, "quiet/a", "q1", false)
	for i := range 10 {
		publish(t, h, "busy/x", fmt.Sprint(i), false)
	}
	s := h.NewSubscription("test", QueueLimits{})
	start, err := s.Subscribe([]string{"quiet/#"}, StartFrom{After: &before})
	if err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, payloads(s), "q1")
	busy := h.NewSubscription("test", QueueLimits{})
	if start, _ := busy.Subscribe([]string{"busy/#"}, StartFrom{After: &before}); !start.Gap {
		t.Fatal("the busy family's window should have a gap")
	}
	equal(t, payloads(busy), "7", "8", "9")
	both := h.NewSubscription("test", QueueLimits{})
	if start, _ := both.Subscribe([]string{"+/#"}, StartFrom{After: &before}); !start.Gap {
		t.Fatal("a filter over both families should see the busy one's gap")
	}
	equal(t, payloads(both), "q1", "7", "8", "9")
}

// TestHistoryBytesShedLargestFamily: past the byte limit of all windows
// together, the largest family gives way, not the one just published to.
func TestHistoryBytesShedLargestFamily(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.HistoryBytes = 4096
	h := newTestHub(t, cfg)
	big := strings.Repeat("x", 200)
	for range 100 {
		publish(t, h, "busy/x", big, false)
	}
	publish(t, h, "quiet/a", "q1", false)
	if st := h.Stats(); st.HistoryBytes > cfg.HistoryBytes {
		t.Fatalf("history holds %d bytes, limit %d", st.HistoryBytes, cfg.HistoryBytes)
	}
	s := h.NewSubscription("test", QueueLimits{})
	if start, err := s.Subscribe([]string{"quiet/#"}, StartFrom{After: &message.Cursor{Epoch: h.Epoch()}}); err != nil || start.Gap {
		t.Fatal(err, start)
	}
	equal(t, payloads(s), "q1")
}

// TestManyFiltersSubscribeAndUnsubscribe: a subscription's filters past
// the size where its set starts keeping positions, some unsubscribed,
// listed sorted, and messages only for the filters left; after Ready is
// first asked for, it fires for what was queued before.
func TestManyFiltersSubscribeAndUnsubscribe(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Defaults())
	s := h.NewSubscription("test", QueueLimits{})
	var all []string
	for i := range 20 {
		all = append(all, fmt.Sprintf("f/%02d", i))
	}
	if _, err := s.Subscribe(all, StartFrom{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(all[:3], StartFrom{}); err != nil { // again: no change
		t.Fatal(err)
	}
	s.Unsubscribe([]string{"f/00", "f/07", "f/19", "f/12", "none"})
	var left []string
	for _, f := range all {
		if f != "f/00" && f != "f/07" && f != "f/19" && f != "f/12" {
			left = append(left, f)
		}
	}
	equal(t, s.Filters(), left...)
	for _, f := range all {
		publish(t, h, f, f, false)
	}
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("Ready made after messages were queued does not fire")
	}
	equal(t, payloads(s), left...)
	s.Close()
	if got := s.Filters(); got == nil || len(got) != 0 {
		t.Errorf("closed subscription's filters %q, want empty and not nil", got)
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done made after the end is not closed")
	}
}
