package registry

import (
	"fmt"
	"testing"
)

type recorder struct{ events []string }

func (r *recorder) Connected(in Info) {
	r.events = append(r.events, fmt.Sprintf("connect %s %s %v", in.Transport, in.Identity, in.Filters))
}

func (r *recorder) Disconnected(in Info) {
	r.events = append(r.events, fmt.Sprintf("disconnect %s %s", in.Transport, in.Identity))
}

type sub struct{ n int }

func (*sub) Filters() []string { return []string{"a/#"} }
func (*sub) Queued() int       { return 0 }
func (*sub) Dropped() uint64   { return 0 }

// wrapper stands for a subscription it wraps, as MQTT's session queue does.
type wrapper struct{ s *sub }

func (wrapper) Filters() []string { return nil }
func (wrapper) Queued() int       { return 0 }
func (wrapper) Dropped() uint64   { return 0 }
func (w wrapper) Unwrap() any     { return w.s }

// TestObserver: the observer hears of each connection once when it is
// added, with its filters, and once when it is removed, however often its
// remove func runs; ByQueue finds a connection by its queue or by the
// subscription its queue wraps, until it is removed.
func TestObserver(t *testing.T) {
	r := New()
	rec := &recorder{}
	r.Observe(rec)
	direct, wrapped := &sub{1}, &sub{2}
	removeA := r.Add(Conn{Transport: "sse", Identity: "ann", Queue: direct})
	removeB := r.Add(Conn{Transport: "mqtt", Identity: "bob", Queue: wrapper{wrapped}})
	if in, ok := r.ByQueue(direct); !ok || in.Identity != "ann" {
		t.Errorf("ByQueue(direct): %+v %v", in, ok)
	}
	if in, ok := r.ByQueue(wrapped); !ok || in.Identity != "bob" {
		t.Errorf("ByQueue(wrapped): %+v %v", in, ok)
	}
	if _, ok := r.ByQueue(&sub{3}); ok {
		t.Error("ByQueue found a subscription no connection has")
	}
	removeA()
	removeA()
	removeB()
	if _, ok := r.ByQueue(direct); ok {
		t.Error("ByQueue found a removed connection")
	}
	want := "[connect sse ann [a/#] connect mqtt bob [] disconnect sse ann disconnect mqtt bob]"
	if got := fmt.Sprint(rec.events); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
}
