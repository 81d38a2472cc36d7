package kit_test

import (
	"slices"
	"sync"
	"testing"

	"streamhub/internal/core/hub"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit"
)

// TestSubscriberCloseReleasesAllOnce: Open counts and lists the
// connection; Close releases what it holds, the transport's additions
// first, once however often it is called; what is added after runs at once.
func TestSubscriberCloseReleasesAllOnce(t *testing.T) {
	h := newHub(t)
	reg := registry.New()
	meter := &countingMeter{}
	s := kit.Open(kit.Opening{Hub: h, Transport: "test", Queue: hub.QueueLimits{Messages: 10, Bytes: 1 << 20},
		Meter: meter, Registry: reg, Remote: "127.0.0.1:1"})
	var order []string
	s.OnClose(func() { order = append(order, "slot") })
	s.OnClose(func() { order = append(order, "socket") })
	if _, err := s.Subscribe(nil, kit.SubscribeRequest{Filters: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if got := reg.List(); len(got) != 1 || got[0].Transport != "test" || !slices.Equal(got[0].Filters, []string{"t"}) {
		t.Fatalf("listed %+v, want the subscriber on t", got)
	}
	if h.Stats().Subscriptions != 1 || meter.connections() != 1 {
		t.Fatalf("%d subscriptions, %d connections counted; want 1 and 1", h.Stats().Subscriptions, meter.connections())
	}
	s.Close()
	s.Close()
	if !slices.Equal(order, []string{"socket", "slot"}) {
		t.Errorf("released %q, want the socket then the slot, once", order)
	}
	if len(reg.List()) != 0 || h.Stats().Subscriptions != 0 || meter.connections() != 0 {
		t.Errorf("left %d listed, %d subscriptions, %d counted", len(reg.List()), h.Stats().Subscriptions, meter.connections())
	}
	late := false
	s.OnClose(func() { late = true })
	if !late {
		t.Error("OnClose after Close did not run at once")
	}
}

// sharedMeter hands every connection the same disconnect func, made once,
// as metrics.Transport does: a counted connection holds no closure.
type sharedMeter struct {
	countingMeter
	once         sync.Once
	disconnected func()
}

func (m *sharedMeter) Connected() func() {
	m.once.Do(func() { m.disconnected = func() { m.mu.Lock(); m.conns--; m.mu.Unlock() } })
	m.mu.Lock()
	m.conns++
	m.mu.Unlock()
	return m.disconnected
}

// TestSubscriberCountedAndKickedWithoutClosures: with a meter handing out
// one disconnect func and no Kick of its own, an open subscriber is
// counted and kicked through the registry by its subscription, which
// ends with hub.ErrKicked; the registry finds it by its subscription.
func TestSubscriberCountedAndKickedWithoutClosures(t *testing.T) {
	h := newHub(t)
	reg := registry.New()
	reg.Observe(nopObserver{})
	meter := &sharedMeter{}
	s := kit.Open(kit.Opening{Hub: h, Transport: "test", Meter: meter, Registry: reg, Remote: "127.0.0.1:1"})
	if _, err := s.Subscribe(nil, kit.SubscribeRequest{Filters: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if meter.connections() != 1 {
		t.Fatalf("%d connections counted, want 1", meter.connections())
	}
	if _, ok := reg.ByQueue(s.Subscription); !ok {
		t.Error("the registry does not find the connection by its subscription")
	}
	list := reg.List()
	if len(list) != 1 || !reg.Kick(list[0].ID) {
		t.Fatalf("kick of %+v failed", list)
	}
	if err := s.Err(); err != hub.ErrKicked {
		t.Errorf("kicked subscription ended with %v, want hub.ErrKicked", err)
	}
	s.Close()
	s.Close()
	if len(reg.List()) != 0 || meter.connections() != 0 {
		t.Errorf("left %d listed, %d counted", len(reg.List()), meter.connections())
	}
}

type nopObserver struct{}

func (nopObserver) Connected(registry.Info)    {}
func (nopObserver) Disconnected(registry.Info) {}
