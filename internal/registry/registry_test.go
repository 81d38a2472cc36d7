package registry

import (
	"testing"
)

type fakeQueue struct{}

func (fakeQueue) Filters() []string { return []string{"a/#"} }
func (fakeQueue) Queued() int       { return 3 }
func (fakeQueue) Dropped() uint64   { return 7 }

func TestRegistryLifecycle(t *testing.T) {
	r := New()
	kicked := 0
	removeA := r.Add(Conn{Transport: "sse", Remote: "1.2.3.4:5", Queue: fakeQueue{}, Kick: func() { kicked++ }})
	removeB := r.Add(Conn{Transport: "tcp-in", Remote: "1.2.3.4:6"})
	list := r.List()
	if len(list) != 2 || list[0].Transport != "sse" || list[0].Queued != 3 || list[0].Dropped != 7 || list[0].Filters[0] != "a/#" {
		t.Fatalf("list: %+v", list)
	}
	if list[1].Filters == nil {
		t.Error("filters of a connection without a queue are nil, want [] in JSON")
	}
	if c := r.Counts(); c["sse"] != 1 || c["tcp-in"] != 1 {
		t.Errorf("counts %v", c)
	}
	if !r.Kick(list[0].ID) || kicked != 1 {
		t.Errorf("kick: kicked %d", kicked)
	}
	if r.Kick(list[1].ID) {
		t.Error("kicked a connection without a kick func")
	}
	removeA()
	removeB()
	if len(r.List()) != 0 || r.Kick(list[0].ID) {
		t.Error("removed connections still listed")
	}
}

func TestNilRegistry(t *testing.T) {
	var r *Registry
	r.Add(Conn{Transport: "sse"})()
	if r.List() != nil || len(r.Counts()) != 0 || r.Kick("1") {
		t.Error("a nil registry holds something")
	}
}

type kickingQueue struct {
	fakeQueue
	kicked *int
}

func (q kickingQueue) Kick() { *q.kicked++ }

// TestQueueKicks: a connection listed without a Kick is kicked by its
// queue's own Kick method; a Listing's Remove unlists it once.
func TestQueueKicks(t *testing.T) {
	r := New()
	kicked := 0
	l := r.Register(Conn{Transport: "sse", Remote: "1.2.3.4:5", Path: "cam", Role: RoleReader, Queue: kickingQueue{kicked: &kicked}})
	list := r.List()
	if len(list) != 1 || list[0].Path != "cam" || list[0].Role != RoleReader || list[0].Since.IsZero() {
		t.Fatalf("list: %+v", list)
	}
	if !r.Kick(list[0].ID) || kicked != 1 {
		t.Errorf("kick through the queue: kicked %d", kicked)
	}
	if r.Kick("not-an-id") || r.Kick("") {
		t.Error("kicked a connection by a malformed id")
	}
	l.Remove()
	l.Remove()
	if len(r.List()) != 0 || r.Kick(list[0].ID) {
		t.Error("removed connection still listed")
	}
	Listing{}.Remove() // a nil registry's
}
